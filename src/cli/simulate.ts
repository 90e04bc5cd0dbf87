// `npm run simulate -- [options]`: realistic traffic against a chainlog service. See --help.
import { optionsOrExit } from './options.js';
import { createGenerator } from '../simulator/generator.js';
import { preflight, PreflightError } from '../simulator/preflight.js';
import { parseSimulateArgs, SIMULATE_HELP } from '../simulator/options.js';
import { startProgress, summaryText } from '../simulator/report.js';
import { runSimulation } from '../simulator/runner.js';
import { SimulationStats } from '../simulator/stats.js';
import { createTransport } from '../simulator/transport.js';

const o = optionsOrExit('simulate', SIMULATE_HELP, parseSimulateArgs(process.argv.slice(2)));

const generator = createGenerator({ seed: o.seed, apps: o.apps, invalidRatio: o.invalidRatio });

// Fail fast with a clear message (nothing listening, a key that may not write these apps), rather
// than a summary full of NETWORK_ERROR or FORBIDDEN.
try {
  await preflight({ url: o.url, apiKey: o.apiKey, apps: generator.apps });
} catch (err) {
  if (!(err instanceof PreflightError)) throw err;
  process.stderr.write(`simulate: ${err.message}\n`);
  process.exit(2);
}

const stats = new SimulationStats();
const abort = new AbortController();
process.once('SIGINT', () => abort.abort());
const limit = [o.count !== undefined ? `${o.count} events` : '', o.durationMs !== undefined ? `${o.durationMs / 1000}s` : '']
  .filter(Boolean)
  .join(' or ');
process.stderr.write(
  `simulate: ${o.transport} → ${o.url}, apps ${generator.apps.join(',')}, rate ${o.rate || 'max'}/s, ` +
    `concurrency ${o.concurrency}, batch ${o.batch}, until ${limit}, seed ${o.seed}\n`,
);
const progress = startProgress(process.stderr, () => stats.summary());
const summary = await runSimulation({
  generator,
  send: createTransport({ kind: o.transport, url: o.url, apiKey: o.apiKey }),
  rate: o.rate,
  concurrency: o.concurrency,
  batch: o.batch,
  durationMs: o.durationMs,
  count: o.count,
  stats,
  signal: abort.signal,
});
progress.stop();
if (summary.stoppedEarly) process.stderr.write(`simulate: ${summary.stoppedEarly}\n`);
if (o.json) process.stdout.write(`${JSON.stringify({ ...summary, seed: o.seed, apps: generator.apps })}\n`);
else process.stdout.write(`${summaryText(summary)}\n`);
// Unexpected outcomes make the exit code non-zero so scripts notice: nothing got in, or bad events got in.
// A service that stopped answering is a connection problem (2).
process.exit(
  summary.stoppedEarly
    ? 2
    : summary.accepted === 0 && summary.sent > summary.invalid.sent
      ? 1
      : summary.invalid.accepted > 0
        ? 1
        : 0,
);
