// What a scenario module provides, and what it is given.
import type { Engine } from './engines.js';
import type { BenchOptions, ScenarioId } from './options.js';
import type { IngestRun } from './ingest.js';
import type { Figure, ScenarioResult } from './report.js';
import type { ServerHandle } from './server.js';

export interface ScenarioContext {
  engine: Engine;
  options: BenchOptions;
  /** Progress line on stderr. */
  log(message: string): void;
  /** The shared loaded server (scenarios 4, 5, 7, 9, 10 only). */
  dataset?: Dataset;
}

export interface ScenarioOutcome {
  figures: Figure[];
  details: Record<string, unknown>;
  /** Set when the scenario cannot run honestly here (the figures are then empty). */
  skipped?: string;
  /**
   * Set when a part of the scenario failed: the result is an error, and `figures` are those of the parts
   * that completed (one part's failure does not hide what the others measured).
   */
  failed?: string;
}

export interface Scenario {
  id: ScenarioId;
  title: string;
  measures: string;
  /** Runs on the shared loaded data set instead of its own fresh servers. */
  usesDataset?: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}

/** The shared loaded server of the scenarios that use it (dataset.ts loads it). */
export interface Dataset {
  server: ServerHandle;
  bigLog: string;
  bigSize: number;
  smallLogs: string[];
  /** A log of `sparseSize` events, written before all others. */
  sparseLog: string;
  sparseSize: number;
  total: number;
  /** Timestamps of the data set lie in [tsStart, tsEnd). */
  tsStart: number;
  tsEnd: number;
  idleRssBytes: number;
  loadedRssBytes: number;
  load: IngestRun;
  result: ScenarioResult;
}
