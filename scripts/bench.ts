// `npm run bench [-- --quick] [--engine sqlite|mongodb|all] [--only 1,4] [--out DIR]`: every scenario
// against fresh data, a JSON report and a readable summary. Exits non-zero only when a scenario could
// not run (an error), never because a figure misses its target.
import { BENCH_HELP, parseBenchArgs } from '../bench/options.js';
import { formatSummary } from '../bench/report.js';
import { runBench } from '../bench/run.js';
import { optionsOrExit } from '../src/cli/options.js';

const options = optionsOrExit('bench', BENCH_HELP, parseBenchArgs(process.argv.slice(2)));

const { report, jsonPath, summaryPath } = await runBench(options);
console.log(formatSummary(report));
console.log(`\nreport: ${jsonPath}\nsummary: ${summaryPath}`);
const errors = report.results.filter((r) => r.status === 'error');
// Servers and clients may leave handles (sockets, timers) behind; the run is over.
process.exit(errors.length > 0 ? 1 : 0);
