// Runs the selected scenarios on each engine and writes the report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadDataset, type Dataset } from './dataset.js';
import { mongoEngine, repoRoot, sqliteEngine, type Engine } from './engines.js';
import type { BenchOptions, EngineName } from './options.js';
import { formatSummary, machineInfo, type BenchReport, type ScenarioResult } from './report.js';
import type { Scenario, ScenarioContext } from './scenario.js';
import { SCENARIOS } from './scenarios/index.js';
import { SERVER_NODE_ARGS } from './server.js';

const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');

export async function runBench(options: BenchOptions): Promise<{ report: BenchReport; jsonPath: string; summaryPath: string }> {
  const started = new Date();
  const log = (message: string) =>
    process.stderr.write(`[bench ${((Date.now() - started.getTime()) / 1000).toFixed(1)}s] ${message}\n`);
  const dataRoot = join(repoRoot, 'bench', 'tmp', `run-${stamp(started)}`);
  mkdirSync(dataRoot, { recursive: true });
  const report: BenchReport = {
    tool: 'chainlog-bench',
    version: 1,
    startedAt: started.toISOString(),
    finishedAt: '',
    options,
    machine: machineInfo(),
    engines: [],
    results: [],
    notes: [
      `Servers run as child processes (node ${SERVER_NODE_ARGS.join(' ')}, as npm start; NODE_ENV=production, LOG_LEVEL=warn, AUTH=off) on fresh data; the clients run in the bench process on the same machine.`,
      'Baselines are measured in the same run because the machine is shared and noisy.',
    ],
  };
  const selected = SCENARIOS.filter((s) => options.only.includes(s.id));

  for (const name of options.engines) {
    let engine: Engine;
    try {
      engine = name === 'sqlite' ? sqliteEngine(dataRoot, options.keep) : await mongoEngine(dataRoot, options.keep);
    } catch (err) {
      log(`engine ${name} unavailable: ${(err as Error).message}`);
      for (const s of selected)
        report.results.push(failed(s, name, new Date(), 0, `engine unavailable: ${(err as Error).message}`));
      continue;
    }
    report.engines.push({ name, description: engine.description });
    log(`engine ${name}: ${engine.description}`);
    const ctx: ScenarioContext = { engine, options, log: (m) => log(`[${name}] ${m}`) };
    try {
      const own = selected.filter((s) => !s.usesDataset);
      const shared = selected.filter((s) => s.usesDataset);
      for (const s of own) report.results.push(await runOne(s, ctx));
      if (shared.length > 0) {
        let dataset: Dataset | undefined;
        const t = new Date();
        try {
          dataset = await loadDataset(ctx);
          report.results.push(dataset.result);
        } catch (err) {
          log(`data set load failed: ${(err as Error).stack ?? String(err)}`);
          for (const s of shared)
            report.results.push(failed(s, name, t, Date.now() - t.getTime(), `data set load failed: ${(err as Error).message}`));
        }
        if (dataset) {
          try {
            for (const s of shared) report.results.push(await runOne(s, { ...ctx, dataset }));
          } finally {
            await dataset.server.stop();
          }
        }
      }
    } finally {
      await engine.close().catch((err) => log(`closing engine ${name}: ${(err as Error).message}`));
    }
  }

  report.finishedAt = new Date().toISOString();
  const outDir = resolve(repoRoot, options.outDir);
  mkdirSync(outDir, { recursive: true });
  const base = join(outDir, `${stamp(started)}${options.quick ? '-quick' : ''}`);
  const summary = formatSummary(report);
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.txt`, `${summary}\n`);
  if (!options.keep) {
    const { rmSync } = await import('node:fs');
    rmSync(dataRoot, { recursive: true, force: true });
  }
  return { report, jsonPath: `${base}.json`, summaryPath: `${base}.txt` };
}

/** One scenario's result: an error keeps the figures of the parts that completed (ScenarioOutcome.failed). */
export async function runOne(s: Scenario, ctx: ScenarioContext): Promise<ScenarioResult> {
  const t = new Date();
  ctx.log(`scenario ${s.id}: ${s.title}`);
  try {
    const out = await s.run(ctx);
    return {
      id: s.id,
      title: s.title,
      engine: ctx.engine.name,
      measures: s.measures,
      status: out.failed ? 'error' : out.skipped ? 'skipped' : 'ok',
      ...(out.failed ? { reason: out.failed } : out.skipped ? { reason: out.skipped } : {}),
      figures: out.figures,
      details: out.details,
      startedAt: t.toISOString(),
      durationMs: Date.now() - t.getTime(),
    };
  } catch (err) {
    ctx.log(`scenario ${s.id} failed: ${(err as Error).stack ?? String(err)}`);
    return failed(s, ctx.engine.name, t, Date.now() - t.getTime(), (err as Error).message);
  }
}

function failed(s: Scenario, engine: EngineName, t: Date, durationMs: number, reason: string): ScenarioResult {
  return {
    id: s.id,
    title: s.title,
    engine,
    measures: s.measures,
    status: 'error',
    reason,
    figures: [],
    details: {},
    startedAt: t.toISOString(),
    durationMs,
  };
}
