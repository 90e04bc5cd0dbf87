// Auditor CLI options: node:util parseArgs, then zod for values, with messages naming the option.
import { z } from 'zod';
import { intOption, parseCliArgs, type CliParse } from '../cli/options.js';
import { MAX_FINDINGS, MAX_RANGE_PROOF_EVENTS } from './audit.js';

export const VERIFY_HELP = `Usage: CHAINLOG_API_KEY=<auditor key> npm run verify -- --app APP --key VERIFIER_KEY [options]

Audits one log of a chainlog service against a verifier key you trust: the latest signed
checkpoint, a consistency proof from the checkpoint trusted last time, every event (leaves
recomputed, hash chain, range proofs) and a few inclusion proofs.

  --url URL          service base URL (default http://127.0.0.1:4000); a URL ending in /graphql
                     (the GraphQL endpoint) is taken as the base URL before it
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
  --max-findings N   findings the report lists at most, those at the lowest positions; the rest are
                     counted (findingsOmitted), not kept (default ${MAX_FINDINGS}; 1-1000000)
  --policy FILE      a C2SP tlog-policy file (witness, group and quorum lines; log lines pin the
                     log's key): the checkpoint must carry valid cosignatures of its quorum. A
                     cosignature line under a policy witness's key that does not verify fails.
  --max-age AGE      with --policy: fail when the newest cosignature by a policy witness is older
                     than AGE, a whole number with s, m, h or d (90s, 10m, 1h): a server serving an
                     old checkpoint to hide newer events
  --key-reads-every-log
                     the API key may read every log (an AUDITOR or ADMIN key without sourceAppIds):
                     an erasure record the server withholds from it is then a finding, and an erased
                     payload no record lists is unrecorded, not unknown. The server cannot tell which
                     keys are limited; you can.
  -h, --help         show this help

Trust is kept per log (its origin and the pinned key), not per URL, and the state file is
checked at load: a stored checkpoint that does not verify under its pinned key is refused.

Exit status: 0 verified; 1 verification failed (a finding proves the log or the server wrong);
2 no verdict: usage error, service unreachable, state file refused, or UNKNOWN (the server did not
give the consistency proof from the trusted checkpoint). A monitor treats 2 as an alert.

With --receipt FILE --event FILE --key KEY, verifies one receipt offline instead (--receipt --help).

To check an inconsistency's evidence offline instead: npm run verify -- --evidence FILE --key KEY
(--evidence --help for more).
`;

const DURATION_RE = /^([1-9][0-9]{0,8})(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

/** `90s`, `10m`, `1h`, `2d` in seconds; null when `text` is not of that form. */
export function durationSeconds(text: string): number | null {
  const m = DURATION_RE.exec(text);
  return m ? Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS] : null;
}

/**
 * The service's base URL from --url. The GraphQL endpoint's own URL (`…/graphql`, what a GraphQL client
 * is usually given) names the same service: its last segment is dropped, since the auditor puts
 * `/graphql` and `/v1/…` under the base itself (left on, the REST pages went to `/graphql/v1/…`).
 */
export function serviceBaseUrl(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/\/graphql\/?$/, '');
  if (path === u.pathname) return url;
  u.pathname = path === '' ? '/' : path;
  return u.search === '' && u.hash === '' && u.pathname === '/' ? u.origin : u.toString();
}

const schema = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: '--url must be an http(s) URL' })
      .default('http://127.0.0.1:4000')
      .transform(serviceBaseUrl),
    app: z.string({ error: '--app is required' }).regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, '--app is not a valid sourceAppId'),
    key: z.string({ error: '--key is required (the verifier key you trust)' }).min(1, '--key must not be empty'),
    state: z.string().min(1, '--state must not be empty').default('.chainlog-verify-state.json'),
    from: intOption('from', 0, Number.MAX_SAFE_INTEGER).default(0),
    origin: z.string().min(1, '--origin must not be empty').optional(),
    'spot-checks': intOption('spot-checks', 0, 1000).default(3),
    'page-size': intOption('page-size', 1, MAX_RANGE_PROOF_EVENTS).default(MAX_RANGE_PROOF_EVENTS),
    'api-key': z.string().min(1, '--api-key must not be empty').optional(),
    json: z.boolean().default(false),
    'max-findings': intOption('max-findings', 1, 1_000_000).default(MAX_FINDINGS),
    'key-reads-every-log': z.boolean().default(false),
    policy: z.string().min(1, '--policy must not be empty').optional(),
    'max-age': z
      .string()
      .refine((v) => durationSeconds(v) !== null, '--max-age must be a whole number with a unit s, m, h or d (90s, 10m, 1h)')
      .transform((v) => durationSeconds(v)!)
      .optional(),
  })
  .strict()
  .refine((o) => o['max-age'] === undefined || o.policy !== undefined, {
    message: '--max-age needs --policy (the witnesses whose cosignature times it checks)',
  });

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
  /** --max-findings (AuditOptions.maxFindings). */
  maxFindings: number;
  /** --policy: the path of a tlog-policy file (read and parsed by the command, which names the option in errors). */
  policy: string | undefined;
  /** --max-age in seconds. */
  maxAgeSeconds: number | undefined;
  /** --key-reads-every-log (AuditOptions.keyReadsEveryLog). */
  keyReadsEveryLog: boolean;
}

export type VerifyParse = CliParse<VerifyOptions>;

export function parseVerifyArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): VerifyParse {
  const spec = {
    schema,
    booleans: ['json', 'key-reads-every-log'],
    env: { key: 'CHAINLOG_VERIFIER_KEY', 'api-key': 'CHAINLOG_API_KEY' },
  } as const;
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
    maxFindings: o['max-findings'],
    policy: o.policy,
    maxAgeSeconds: o['max-age'],
    keyReadsEveryLog: o['key-reads-every-log'],
  }));
}
