// Options of `npm run verify -- --evidence FILE --key VKEY`: checks an inconsistency's evidence offline.
import { z } from 'zod';
import { parseCliArgs, type CliParse } from '../cli/options.js';

export const EVIDENCE_HELP = `Usage: npm run verify -- --evidence FILE --key VERIFIER_KEY [--json]

Checks, offline, an inconsistency's evidence (the evidence text of the inconsistencies query or
the inconsistencyDetected subscription, saved to a file) against the log's verifier key: whether
it proves that the log signed checkpoints that cannot all be true (a fork).

  --evidence FILE    the evidence document (JSON, chainlog-inconsistency-evidence/v1)
  --key KEY          the log's verifier key <name>+<id>+<base64> (required; default env
                     CHAINLOG_VERIFIER_KEY); any name: the log's origin is tried as the key name too
  --json             print the verdict as JSON on stdout
  -h, --help         show this help

Exit status: 0 the evidence proves a fork (and says what), 1 it does not (an unproven observation,
a proof that does not verify, a note not signed by the key), 2 the file or key cannot be read.
`;

const schema = z
  .object({
    evidence: z.string({ error: '--evidence is required' }).min(1, '--evidence must not be empty'),
    key: z.string({ error: '--key is required (the log verifier key you trust)' }).min(1, '--key must not be empty'),
    json: z.boolean().default(false),
  })
  .strict();

export interface EvidenceOptions {
  evidence: string;
  key: string;
  json: boolean;
}

export function parseEvidenceArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CliParse<EvidenceOptions> {
  return parseCliArgs({ schema, booleans: ['json'], env: { key: 'CHAINLOG_VERIFIER_KEY' } }, argv, env, (o) => ({
    evidence: o.evidence,
    key: o.key,
    json: o.json,
  }));
}

/** True when the command line asks for the evidence mode. */
export const wantsEvidenceMode = (argv: readonly string[]): boolean =>
  argv.some((a) => a === '--evidence' || a.startsWith('--evidence='));
