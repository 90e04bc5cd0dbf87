// Sizes per mode and engine. The FerretDB test server (the default MongoDB here) is an emulation on
// SQLite that ingests orders of magnitude slower than MongoDB; its sizes are capped so a run finishes,
// and the report says so. With MONGODB_URI (a real MongoDB) the full sizes apply.
import type { ScenarioContext } from './scenario.js';

export interface Sizes<T> {
  quick: T;
  full: T;
  /** On the FerretDB test server; default: the same as for other engines. */
  slowQuick?: T;
  slowFull?: T;
}

export function sized<T>(ctx: Pick<ScenarioContext, 'engine' | 'options'>, s: Sizes<T>): T {
  if (ctx.engine.slow) return ctx.options.quick ? (s.slowQuick ?? s.quick) : (s.slowFull ?? s.full);
  return ctx.options.quick ? s.quick : s.full;
}

export const datasetSize = (ctx: Pick<ScenarioContext, 'engine' | 'options'>) =>
  ctx.options.datasetSize ?? sized(ctx, { quick: 20_000, full: 1_000_000, slowQuick: 2_000, slowFull: 20_000 });

export const steadySeconds = (ctx: Pick<ScenarioContext, 'engine' | 'options'>) =>
  ctx.options.steadySeconds ?? sized(ctx, { quick: 6, full: 300, slowQuick: 6, slowFull: 60 });
