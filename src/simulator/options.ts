// Simulator options: parsed by node:util, validated by zod into a plain object with clear messages.
import { z } from 'zod';
import { intOption, parseCliArgs, type CliParse } from '../cli/options.js';

export const SIMULATE_HELP = `Usage: CHAINLOG_API_KEY=<writer key> npm run simulate -- [options]

Sends realistic events to a chainlog service and reports what it accepted.

  --url URL             service base URL (default http://127.0.0.1:4000)
  --transport KIND      rest | graphql (default graphql)
  --rate N              events per second, 0 = as fast as possible (default 50)
  --concurrency N       requests in flight (default 4)
  --batch N             events per request, 1-1000 (default 10)
  --duration SECONDS    stop after this long (default 10 unless --count is given)
  --count N             stop after this many events
  --apps N              number of source apps to spread events over (default 5)
  --invalid-ratio R     share 0..1 of events that break a rule on purpose (default 0)
  --seed N              PRNG seed, for a reproducible stream (default: random)
  --api-key KEY         prefer env CHAINLOG_API_KEY: an option shows the key in npm's output and
                        the process list. A WRITER key naming the apps (or ADMIN); sent as x-api-key.
  --json                print the summary as JSON on stdout
  -h, --help            show this help

Before sending, it checks that the key may write every app of the run and says how to fix it if not.
When the service fails requests (no answer, 5xx), it backs off (100 ms doubling to 2 s) and stops
after 8 failures in a row; when it rate-limits (429), it waits 100 ms before the next request.

Exit status: 0 done, 1 nothing was accepted or an invalid event was accepted, 2 usage or connection error
(including a service that stopped answering).
`;

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: '--url must be an http(s) URL' }).default('http://127.0.0.1:4000'),
    transport: z.enum(['rest', 'graphql'], { error: '--transport must be rest or graphql' }).default('graphql'),
    rate: z.coerce.number({ error: '--rate must be a number' }).min(0, '--rate must be 0 or more').max(1_000_000).default(50),
    concurrency: intOption('concurrency', 1, 256).default(4),
    batch: intOption('batch', 1, 1000).default(10),
    duration: z.coerce.number({ error: '--duration must be a number' }).positive('--duration must be more than 0').optional(),
    count: intOption('count', 1, Number.MAX_SAFE_INTEGER).optional(),
    apps: intOption('apps', 1, 1000).default(5),
    'invalid-ratio': z.coerce
      .number({ error: '--invalid-ratio must be a number' })
      .min(0, '--invalid-ratio must be between 0 and 1')
      .max(1, '--invalid-ratio must be between 0 and 1')
      .default(0),
    seed: intOption('seed', 0, 2 ** 32 - 1).optional(),
    'api-key': z.string().min(1, '--api-key must not be empty').optional(),
    json: z.boolean().default(false),
  })
  .strict();

export interface SimulateOptions {
  url: string;
  transport: 'rest' | 'graphql';
  rate: number;
  concurrency: number;
  batch: number;
  durationMs: number | undefined;
  count: number | undefined;
  apps: number;
  invalidRatio: number;
  seed: number;
  apiKey: string | undefined;
  json: boolean;
}

export type ParseResult = CliParse<SimulateOptions>;

export function parseSimulateArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  return parseCliArgs({ schema, booleans: ['json'], env: { 'api-key': 'CHAINLOG_API_KEY' } }, argv, env, (o) => ({
    url: o.url,
    transport: o.transport,
    rate: o.rate,
    concurrency: o.concurrency,
    batch: o.batch,
    // Without either limit a run would never end; ten seconds is a useful default look at a service.
    durationMs: o.duration !== undefined ? o.duration * 1000 : o.count === undefined ? 10_000 : undefined,
    count: o.count,
    apps: o.apps,
    invalidRatio: o['invalid-ratio'],
    seed: o.seed ?? Math.floor(Math.random() * 2 ** 32),
    apiKey: o['api-key'],
    json: o.json,
  }));
}
