// Command-line options of `npm run bench`.
export const SCENARIO_IDS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'] as const;
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

export const USAGE = `usage: npm run bench -- [options]
  --quick                 every scenario at a small size (CI); no thresholds are enforced
  --engine sqlite|mongodb|all   engines to run (default all; mongodb uses MONGODB_URI when set,
                          else the FerretDB-based test server)
  --only 1,4,5            scenarios to run (default all: ${SCENARIO_IDS.join(',')})
  --out DIR               report directory (default bench/results, quick: bench/tmp/results)
  --dataset N             events of the big log for scenarios 4, 5, 7, 9, 10 (default 1000000, quick 20000;
                          on the FerretDB test server 20000, quick 2000)
  --steady-seconds S      steady load of scenario 7 (default 300, quick 6; FerretDB test server 60)
  --keep                  keep the servers' data directories
  --help`;

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  let quick = false;
  let engine = 'all';
  let only: string | undefined;
  let out: string | undefined;
  let dataset: number | undefined;
  let steady: number | undefined;
  let keep = false;
  const args = [...argv];
  const value = (flag: string): string => {
    const v = args.shift();
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
    return v;
  };
  const positiveInt = (flag: string, v: string): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive integer, got ${v}`);
    return n;
  };
  while (args.length > 0) {
    const raw = args.shift()!;
    const eq = raw.indexOf('=');
    const [flag, inline] = raw.startsWith('--') && eq > 0 ? [raw.slice(0, eq), raw.slice(eq + 1)] : [raw, undefined];
    if (inline !== undefined) args.unshift(inline);
    switch (flag) {
      case '--quick':
        quick = true;
        break;
      case '--engine':
        engine = value(flag);
        break;
      case '--only':
        only = value(flag);
        break;
      case '--out':
        out = value(flag);
        break;
      case '--dataset':
        dataset = positiveInt(flag, value(flag));
        break;
      case '--steady-seconds':
        steady = positiveInt(flag, value(flag));
        break;
      case '--keep':
        keep = true;
        break;
      case '--help':
      case '-h':
        return 'help';
      default:
        throw new UsageError(`unknown option ${raw}`);
    }
  }
  const engines: EngineName[] =
    engine === 'all' ? ['sqlite', 'mongodb'] : engine === 'sqlite' || engine === 'mongodb' ? [engine] : [];
  if (engines.length === 0) throw new UsageError(`--engine must be sqlite, mongodb or all, got ${engine}`);
  const selected = only === undefined ? [...SCENARIO_IDS] : only.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of selected) {
    if (!(SCENARIO_IDS as readonly string[]).includes(s)) throw new UsageError(`--only: unknown scenario ${s} (known: ${SCENARIO_IDS.join(',')})`);
  }
  return {
    quick,
    engines,
    only: SCENARIO_IDS.filter((id) => selected.includes(id)),
    outDir: out ?? (quick ? 'bench/tmp/results' : 'bench/results'),
    ...(dataset !== undefined ? { datasetSize: dataset } : {}),
    ...(steady !== undefined ? { steadySeconds: steady } : {}),
    keep,
  };
}
