// Command-line options of `npm run bench`.
import { z } from 'zod';
import { intOption, parseCliArgs, type CliParse } from '../src/cli/options.js';

export const SCENARIO_IDS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'] as const;
/** Scenarios that run only when asked for: 12 (the peers) builds and runs Tessera (--peers or --only 12). */
export const OPT_IN_SCENARIOS: readonly ScenarioId[] = ['12'];
export type ScenarioId = (typeof SCENARIO_IDS)[number];
export type EngineName = 'sqlite' | 'mongodb';

export interface BenchOptions {
  quick: boolean;
  engines: EngineName[];
  only: ScenarioId[];
  /** Where the JSON report and the summary go. */
  outDir: string;
  /** Events of the big log of the shared data set (scenarios 4, 5, 7, 9, 10); other logs add a fifth on top. Default per engine. */
  datasetSize?: number;
  /** Steady-load duration of scenario 7, seconds. Default per engine. */
  steadySeconds?: number;
  /** Keep data directories after the run (for inspection). */
  keep: boolean;
}

export const BENCH_HELP = `Usage: npm run bench -- [options]
  --quick                 every scenario at a small size (CI); no thresholds are enforced
  --engine sqlite|mongodb|all   engines to run (default all; mongodb uses MONGODB_URI when set,
                          else the FerretDB-based test server)
  --only 1,4,5            scenarios to run (default all but 12: ${SCENARIO_IDS.filter((id) => !OPT_IN_SCENARIOS.includes(id)).join(',')})
  --peers                 add scenario 12: the peers (Tessera's POSIX log, built with Go into bench/.peer-cache
                          the first time; skipped where Go is missing) beside chainlog, 64 and 512 clients
  --out DIR               report directory (default bench/results, quick: bench/tmp/results)
  --dataset N             events of the big log for scenarios 4, 5, 7, 9, 10 (default 1000000, quick 20000;
                          on the FerretDB test server 20000, quick 2000)
  --steady-seconds S      steady load of scenario 7 (default 300, quick 6; FerretDB test server 60)
  --keep                  keep the servers' data directories
  -h, --help              show this help
`;

const schema = z
  .object({
    quick: z.boolean().default(false),
    engine: z.enum(['sqlite', 'mongodb', 'all'], { error: '--engine must be sqlite, mongodb or all' }).default('all'),
    only: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      )
      .pipe(
        z.array(
          z.enum(SCENARIO_IDS, {
            error: (i) => `--only: unknown scenario ${String(i.input)} (known: ${SCENARIO_IDS.join(',')})`,
          }),
        ),
      )
      .optional(),
    out: z.string().min(1, '--out must not be empty').optional(),
    dataset: intOption('dataset', 1, Number.MAX_SAFE_INTEGER).optional(),
    'steady-seconds': intOption('steady-seconds', 1, Number.MAX_SAFE_INTEGER).optional(),
    keep: z.boolean().default(false),
    peers: z.boolean().default(false),
  })
  .strict();

/** Parses the command line as the other tools do (src/cli/options.ts): node:util flags, zod values. */
export function parseBenchArgs(argv: string[]): CliParse<BenchOptions> {
  return parseCliArgs({ schema, booleans: ['quick', 'keep', 'peers'] }, argv, {}, (o) => ({
    quick: o.quick,
    engines: o.engine === 'all' ? ['sqlite', 'mongodb'] : [o.engine],
    only: SCENARIO_IDS.filter((id) =>
      o.only !== undefined ? o.only.includes(id) || (o.peers && id === '12') : !OPT_IN_SCENARIOS.includes(id) || o.peers,
    ),
    outDir: o.out ?? (o.quick ? 'bench/tmp/results' : 'bench/results'),
    ...(o.dataset !== undefined ? { datasetSize: o.dataset } : {}),
    ...(o['steady-seconds'] !== undefined ? { steadySeconds: o['steady-seconds'] } : {}),
    keep: o.keep,
  }));
}
