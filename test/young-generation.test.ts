// The main thread's young generation comes from node's command line (`npm start`); the service clears the
// flag before its first worker starts, so each worker thread keeps the young generation its
// resourceLimits give it (src/young-generation.ts). Observed in a child node started as `npm start`
// starts the service, with V8's own heap statistics.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { START_FLAGS } from './support/service-process.js';

const MB = 2 ** 20;

/**
 * Allocates objects that survive a while (so the scavenger grows the semi-spaces to their bound) and
 * returns the largest new space seen, in bytes.
 */
const CHURN = `
  const v8 = process.getBuiltinModule('node:v8');
  let largest = 0, kept = [];
  for (let i = 0; i < 3e6; i++) {
    kept.push({ i, s: 'x' + i });
    if (kept.length > 200000) kept = [];
    if (i % 10000 === 0) largest = Math.max(largest, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
  }
  return largest;`;

const probe = (clear: boolean) => `
  import { Worker } from 'node:worker_threads';
  ${clear ? `const { leaveWorkersTheirYoungGeneration } = await import(${JSON.stringify(new URL('../src/young-generation.ts', import.meta.url).href)});\n  leaveWorkersTheirYoungGeneration();` : ''}
  const churn = new Function(${JSON.stringify(CHURN)});
  const worker = await new Promise((resolve, reject) => {
    const w = new Worker("process.getBuiltinModule('node:worker_threads').parentPort.postMessage(new Function(" + ${JSON.stringify(JSON.stringify(CHURN))} + ")())", {
      eval: true,
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    w.once('message', resolve);
    w.once('error', reject);
  });
  console.log(JSON.stringify({ main: churn(), worker }));`;

async function newSpaces(clear: boolean): Promise<{ main: number; worker: number }> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...START_FLAGS, '--import', 'tsx', '--input-type=module', '-e', probe(clear)],
    { timeout: 60_000 },
  );
  return JSON.parse(stdout) as { main: number; worker: number };
}

describe('young generations', () => {
  it('`npm start` sizes the main thread’s young generation above V8’s default (and turns off allocation-site pretenuring)', () => {
    expect(START_FLAGS).toEqual(['--max-semi-space-size=32', '--no-allocation-site-pretenuring']);
  });

  it('the main thread keeps the flag’s semi-spaces; a worker started after the flag is cleared keeps its resourceLimits', async () => {
    const { main, worker } = await newSpaces(true);
    // Beyond V8's default bound (two semi-spaces of 16 MB), up to the flag's.
    expect(main).toBeGreaterThan(2 * 16 * MB);
    expect(main).toBeLessThanOrEqual(2 * 32 * MB);
    expect(worker).toBeLessThanOrEqual(8 * MB);
  });

  it('without the clearing, the flag overrides a worker’s resourceLimits (what the clearing is for)', async () => {
    const { main, worker } = await newSpaces(false);
    expect(main).toBeGreaterThan(2 * 16 * MB);
    expect(worker).toBeGreaterThan(2 * 16 * MB);
  });
});
