// `npm run verify -- --evidence FILE --key VKEY`: exit 0 when the evidence proves a fork, 1 when it
// does not, 2 when the file or the key cannot be read (src/auditor/evidence-options.ts).
import { readFileSync } from 'node:fs';
import { EvidenceFormatError, NoteError, parseVerifierKey, verifyEvidence, type Verdict } from '../core/index.js';
import { EVIDENCE_HELP, parseEvidenceArgs } from '../auditor/evidence-options.js';
import { optionsOrExit } from './options.js';

/** Evidence files are a few notes and proofs: anything far larger is not one. */
const MAX_EVIDENCE_BYTES = 1024 * 1024;

export function runEvidenceMode(argv: string[]): never {
  const o = optionsOrExit('verify', EVIDENCE_HELP, parseEvidenceArgs(argv));
  const unreadable = (message: string): never => {
    if (o.json) process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
    process.stderr.write(`verify: ${message}\n`);
    process.exit(2);
  };
  let trusted;
  try {
    trusted = parseVerifierKey(o.key);
  } catch (err) {
    if (err instanceof NoteError) unreadable(`--key is not a verifier key (<name>+<8 hex id>+<base64 key>): ${err.message}`);
    throw err;
  }
  let text = '';
  try {
    const bytes = readFileSync(o.evidence);
    if (bytes.length > MAX_EVIDENCE_BYTES) unreadable(`--evidence ${o.evidence}: larger than ${MAX_EVIDENCE_BYTES} bytes`);
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    if (err instanceof TypeError) unreadable(`--evidence ${o.evidence}: not UTF-8`);
    unreadable(`--evidence ${o.evidence}: ${(err as Error).message}`);
  }
  let verdict: Verdict;
  try {
    verdict = verifyEvidence(text, trusted);
  } catch (err) {
    if (err instanceof EvidenceFormatError) unreadable(`--evidence ${o.evidence}: ${err.message}`);
    throw err;
  }
  if (o.json) process.stdout.write(`${JSON.stringify({ ok: verdict!.proves, ...verdict! })}\n`);
  else if (verdict!.proves) process.stdout.write(`PROVEN (${verdict.kind}): ${verdict.statement}\n`);
  else process.stdout.write(`NOT PROVEN (${verdict.kind}): ${verdict.reason}\n`);
  process.exit(verdict!.proves ? 0 : 1);
}
