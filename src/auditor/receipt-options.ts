// Options of `npm run verify -- --receipt FILE --event FILE --key KEY`: one receipt, verified offline.
import { z } from 'zod';
import { parseCliArgs, type CliParse } from '../cli/options.js';

export const VERIFY_RECEIPT_HELP = `Usage: npm run verify -- --receipt FILE --event FILE --key VERIFIER_KEY [--origin PREFIX] [--json]

Verifies a receipt (a C2SP tlog-proof, e.g. from GET /v1/events/<app>/<seq>/receipt) offline: the
event's leaf is recomputed from the event JSON (as the API serves it), the inclusion proof is folded
to the checkpoint's root hash, and the checkpoint's signature is checked under the log's origin with
the verifier key you trust.

  --receipt FILE     the receipt (.tlog-proof text)
  --event FILE       the event as JSON (a GraphQL Event or a REST event)
  --key KEY          verifier key <name>+<id>+<base64> (required; default env CHAINLOG_VERIFIER_KEY)
  --origin PREFIX    the log's origin is PREFIX/<sourceAppId> (default: the key's name)
  --json             print the result as JSON on stdout
  -h, --help         show this help

Exit status: 0 verified, 1 the receipt does not verify (the reason is printed), 2 usage error.
`;

const schema = z
  .object({
    receipt: z.string({ error: '--receipt is required' }).min(1, '--receipt must not be empty'),
    event: z.string({ error: '--event is required with --receipt' }).min(1, '--event must not be empty'),
    key: z.string({ error: '--key is required (the verifier key you trust)' }).min(1, '--key must not be empty'),
    origin: z.string().min(1, '--origin must not be empty').optional(),
    json: z.boolean().default(false),
  })
  .strict();

export interface VerifyReceiptOptions {
  receipt: string;
  event: string;
  key: string;
  origin: string | undefined;
  json: boolean;
}

export function parseVerifyReceiptArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CliParse<VerifyReceiptOptions> {
  const spec = { schema, booleans: ['json'], env: { key: 'CHAINLOG_VERIFIER_KEY' } } as const;
  return parseCliArgs(spec, argv, env, (o) => ({
    receipt: o.receipt,
    event: o.event,
    key: o.key,
    origin: o.origin,
    json: o.json,
  }));
}
