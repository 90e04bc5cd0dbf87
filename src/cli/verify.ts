// `npm run verify -- --app APP --key KEY [options]`: audit one log. Exit 0 OK, 1 verification failed, 2 could not run.
// `npm run verify -- --evidence FILE --key KEY`: check an inconsistency's evidence offline (verify-evidence.ts).
import { NoteError, parseVerifierKey, type NoteVerifier } from '../core/index.js';
import { AuditAbort, runAudit } from '../auditor/audit.js';
import { ConnectionError, GraphqlClient } from '../auditor/graphql-client.js';
import { parseVerifyArgs, VERIFY_HELP } from '../auditor/options.js';
import { optionsOrExit } from './options.js';
import { reportText } from '../auditor/report.js';
import { StateFile, StateFileError } from '../auditor/state-file.js';
import { wantsEvidenceMode } from '../auditor/evidence-options.js';
import { runEvidenceMode } from './verify-evidence.js';

function fail(message: string, json = false): never {
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: message })}\n`);
  process.stderr.write(`verify: ${message}\n`);
  process.exit(2);
}

// `--evidence FILE --key VKEY`: an inconsistency's evidence, checked offline (verify-evidence.ts).
if (wantsEvidenceMode(process.argv.slice(2))) runEvidenceMode(process.argv.slice(2));

const o = optionsOrExit('verify', VERIFY_HELP, parseVerifyArgs(process.argv.slice(2)));

let verifier: NoteVerifier;
try {
  verifier = parseVerifierKey(o.key);
} catch (err) {
  if (err instanceof NoteError) fail(`--key is not a verifier key (<name>+<8 hex id>+<base64 key>): ${err.message}`, o.json);
  throw err;
}

try {
  const state = await StateFile.load(o.state);
  const report = await runAudit({
    client: new GraphqlClient({ url: o.url, apiKey: o.apiKey }),
    url: o.url,
    app: o.app,
    verifier,
    originPrefix: o.origin,
    from: o.from,
    state,
    spotChecks: o.spotChecks,
    pageSize: o.pageSize,
    onProgress:
      process.stderr.isTTY && !o.json ? (upTo, size) => process.stderr.write(`\r\x1b[2Kverified ${upTo}/${size}`) : undefined,
  });
  if (process.stderr.isTTY && !o.json) process.stderr.write('\r\x1b[2K');
  process.stdout.write(`${o.json ? JSON.stringify(report) : reportText(report, o.state)}\n`);
  process.exit(report.ok ? 0 : 1);
} catch (err) {
  if (err instanceof AuditAbort || err instanceof ConnectionError || err instanceof StateFileError) fail(err.message, o.json);
  throw err;
}
