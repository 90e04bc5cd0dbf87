// `npm run bench [-- --quick] [--engine sqlite|mongodb|all] [--only 1,4] [--out DIR]`: every scenario
// against fresh data, a JSON report and a readable summary. Exits non-zero only when a scenario could
// not run (an error), never because a figure misses its target.
import { parseOptions, UsageError, USAGE } from '../bench/options.js';
import { runBench } from '../bench/run.js';

let options;
try {
  options = parseOptions(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`${err.message}\n${USAGE}`);
    process.exit(2);
  }
  throw err;
}
if (options === 'help') {
  console.log(USAGE);
  process.exit(0);
}

const { report, jsonPath, summaryPath } = await runBench(options);
const { formatSummary } = await import('../bench/report.js');
console.log(formatSummary(report));
console.log(`\nreport: ${jsonPath}\nsummary: ${summaryPath}`);
const errors = report.results.filter((r) => r.status === 'error');
// Servers and clients may leave handles (sockets, timers) behind; the run is over.
process.exit(errors.length > 0 ? 1 : 0);
