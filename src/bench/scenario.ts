// What a scenario module provides, and what it is given.
import type { Engine } from './engines.js';
import type { BenchOptions, ScenarioId } from './options.js';
import type { Figure } from './report.js';
import type { Dataset } from './dataset.js';

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
}

export interface Scenario {
  id: ScenarioId;
  title: string;
  measures: string;
  /** Runs on the shared loaded data set instead of its own fresh servers. */
  usesDataset?: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}
