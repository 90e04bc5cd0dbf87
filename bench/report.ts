// Results, the JSON report and the readable summary.
import { execFileSync } from 'node:child_process';
import { cpus, freemem, loadavg, platform, release, totalmem, arch } from 'node:os';
import { repoRoot } from './engines.js';
import type { BenchOptions, EngineName } from './options.js';

/** Bytes in a MB as the reports print memory (MiB, as VmRSS counts it). */
export const MB = 2 ** 20;

export type Status = 'PASS' | 'MISS' | 'INFO';

export interface Target {
  op: '>=' | '<=';
  value: number;
  /** The target as the product issue states it. */
  text: string;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The same-run baseline this figure is judged against or read beside. */
  baseline?: { name: string; value: number; unit: string };
  target?: Target;
  status: Status;
  note?: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  engine: EngineName;
  /** What the scenario measures, in one or two sentences. */
  measures: string;
  status: 'ok' | 'skipped' | 'error';
  reason?: string;
  figures: Figure[];
  details: Record<string, unknown>;
  startedAt: string;
  durationMs: number;
}

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  totalMemoryBytes: number;
  freeMemoryBytesAtStart: number;
  loadAverageAtStart: number[];
  os: string;
  node: string;
  gitCommit: string | null;
  gitDirty: boolean | null;
}

export interface BenchReport {
  tool: 'chainlog-bench';
  version: 1;
  startedAt: string;
  finishedAt: string;
  options: BenchOptions;
  machine: MachineInfo;
  engines: Array<{ name: EngineName; description: string }>;
  results: ScenarioResult[];
  notes: string[];
}

/** The targets of the issue hold for the embedded engine only; other engines' figures are informative. */
export function judge(value: number, target: Target | undefined, engine: EngineName): Status {
  if (!target || engine !== 'sqlite' || !Number.isFinite(value)) return target && engine === 'sqlite' ? 'MISS' : 'INFO';
  return (target.op === '>=' ? value >= target.value : value <= target.value) ? 'PASS' : 'MISS';
}

export function figure(
  engine: EngineName,
  name: string,
  value: number,
  unit: string,
  extra: { baseline?: Figure['baseline']; target?: Target; note?: string } = {},
): Figure {
  const f: Figure = { name, value: round(value), unit, status: judge(value, extra.target, engine) };
  if (extra.baseline) f.baseline = { ...extra.baseline, value: round(extra.baseline.value) };
  if (extra.target) f.target = extra.target;
  if (extra.note) f.note = extra.note;
  return f;
}

export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  return Number(x.toFixed(a >= 100 ? 1 : a >= 1 ? 3 : 4));
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    cpuModel: cpu[0]?.model ?? 'unknown',
    cpuCount: cpu.length,
    totalMemoryBytes: totalmem(),
    freeMemoryBytesAtStart: freemem(),
    loadAverageAtStart: loadavg().map((x) => Number(x.toFixed(2))),
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    // An export without .git (e.g. git archive) can say which commit it is through BENCH_GIT_COMMIT.
    gitCommit: git(['rev-parse', 'HEAD']) ?? process.env.BENCH_GIT_COMMIT ?? null,
    gitDirty: status === null ? null : status.length > 0,
  };
}

const fmt = (x: number, unit: string) => {
  if (!Number.isFinite(x)) return `${x}`;
  const v = Math.abs(x) >= 1000 ? Math.round(x).toLocaleString('en-US') : String(round(x));
  return unit ? `${v} ${unit}` : v;
};

export function formatSummary(report: BenchReport): string {
  const lines: string[] = [];
  const m = report.machine;
  lines.push(
    `chainlog benchmark — ${report.startedAt}${report.options.quick ? ' (QUICK: small sizes, PASS/MISS only indicative)' : ''}`,
  );
  lines.push(
    `machine: ${m.cpuCount} x ${m.cpuModel}, ${(m.totalMemoryBytes / 2 ** 30).toFixed(1)} GiB, ${m.os}, node ${m.node}, ` +
      `commit ${m.gitCommit?.slice(0, 12) ?? '?'}${m.gitDirty ? ' (dirty)' : ''}, load avg at start ${m.loadAverageAtStart.join(' ')}`,
  );
  for (const e of report.engines) lines.push(`engine ${e.name}: ${e.description}`);
  lines.push('Targets apply to the embedded engine (sqlite); other engines are reported as INFO.');
  for (const r of report.results) {
    lines.push('');
    lines.push(
      `[${r.engine}] ${r.id}. ${r.title} — ${r.status.toUpperCase()}${r.reason ? `: ${r.reason}` : ''} (${(r.durationMs / 1000).toFixed(1)} s)`,
    );
    for (const f of r.figures) {
      let line = `  ${f.status.padEnd(4)}  ${f.name}: ${fmt(f.value, f.unit)}`;
      if (f.baseline) line += `  | baseline ${f.baseline.name}: ${fmt(f.baseline.value, f.baseline.unit)}`;
      if (f.target) line += `  | target ${f.target.text}`;
      if (f.note) line += `  (${f.note})`;
      lines.push(line);
    }
  }
  const all = report.results.flatMap((r) => r.figures);
  const count = (s: Status) => all.filter((f) => f.status === s).length;
  lines.push('');
  lines.push(
    `figures: ${count('PASS')} PASS, ${count('MISS')} MISS, ${count('INFO')} INFO; scenarios: ` +
      `${report.results.filter((r) => r.status === 'ok').length} ok, ${report.results.filter((r) => r.status === 'skipped').length} skipped, ` +
      `${report.results.filter((r) => r.status === 'error').length} error`,
  );
  for (const n of report.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
