// Auditor CLI options: node:util parseArgs, then zod for values, with messages naming the option.
import { z } from 'zod';
import { intOption, parseCliArgs, type CliParse } from '../cli/options.js';
import { MAX_RANGE_PROOF_EVENTS } from './audit.js';

export const VERIFY_HELP = `Usage: CHAINLOG_API_KEY=<auditor key> npm run verify -- --app APP --key VERIFIER_KEY [options]

Audits one log of a chainlog service against a verifier key you trust: the latest signed
checkpoint, a consistency proof from the checkpoint trusted last time, every event (leaves
recomputed, hash chain, range proofs) and a few inclusion proofs.

  --url URL          service base URL (default http://127.0.0.1:4000)
  --app APP          the sourceAppId of the log to audit (required)
  --key KEY          verifier key <name>+<id>+<base64> (required; default env CHAINLOG_VERIFIER_KEY).
                     Never taken from the server.
  --state FILE       where the last trusted checkpoint is kept (default .chainlog-verify-state.json)
  --from SEQ         first position to check (default 0)
  --origin PREFIX    origin prefix to expect (default: the server's originPrefix)
  --spot-checks N    random inclusion proofs to check (default 3)
  --page-size N      events per range proof, 1-${MAX_RANGE_PROOF_EVENTS} (default ${MAX_RANGE_PROOF_EVENTS})
  --api-key KEY      prefer env CHAINLOG_API_KEY: an option shows the key in npm's output and
                     the process list. An AUDITOR (or ADMIN) key; sent as x-api-key.
  --json             print the report as JSON on stdout
  -h, --help         show this help

Exit status: 0 verified, 1 verification failed, 2 usage or connection error.

To check an inconsistency's evidence offline instead: npm run verify -- --evidence FILE --key KEY
(--evidence --help for more).
`;

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: '--url must be an http(s) URL' }).default('http://127.0.0.1:4000'),
    app: z.string({ error: '--app is required' }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, '--app is not a valid sourceAppId'),
    key: z.string({ error: '--key is required (the verifier key you trust)' }).min(1, '--key must not be empty'),
    state: z.string().min(1, '--state must not be empty').default('.chainlog-verify-state.json'),
    from: intOption('from', 0, Number.MAX_SAFE_INTEGER).default(0),
    origin: z.string().min(1, '--origin must not be empty').optional(),
    'spot-checks': intOption('spot-checks', 0, 1000).default(3),
    'page-size': intOption('page-size', 1, MAX_RANGE_PROOF_EVENTS).default(MAX_RANGE_PROOF_EVENTS),
    'api-key': z.string().min(1, '--api-key must not be empty').optional(),
    json: z.boolean().default(false),
  })
  .strict();

export interface VerifyOptions {
  url: string;
  app: string;
  key: string;
  state: string;
  from: number;
  origin: string | undefined;
  spotChecks: number;
  pageSize: number;
  apiKey: string | undefined;
  json: boolean;
}

export type VerifyParse = CliParse<VerifyOptions>;

export function parseVerifyArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): VerifyParse {
  const spec = { schema, booleans: ['json'], env: { key: 'CHAINLOG_VERIFIER_KEY', 'api-key': 'CHAINLOG_API_KEY' } } as const;
  return parseCliArgs(spec, argv, env, (o) => ({
    url: o.url,
    app: o.app,
    key: o.key,
    state: o.state,
    from: o.from,
    origin: o.origin,
    spotChecks: o['spot-checks'],
    pageSize: o['page-size'],
    apiKey: o['api-key'],
    json: o.json,
  }));
}
