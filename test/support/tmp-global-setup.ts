// Vitest globalSetup: the run's temporary files in one directory of its own, removed when the run ends.
// TMPDIR names it for the test workers and for every process they start (the service, the MongoDB test
// server, Go builds, Chromium), so os.tmpdir() and mktemp put everything there: a suite that stops
// early (a failed assertion before its cleanup, a killed service) leaves nothing behind on the machine.
// Runs once per run, before the other setups, whichever project asks first.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Set while a run's directory exists; a second project's setup finds it and leaves it alone. */
const RUN_DIR = 'CHAINLOG_TEST_RUN_TMPDIR';

export default function setup(): (() => void) | undefined {
  if (process.env[RUN_DIR]) return undefined;
  const previous = process.env.TMPDIR;
  const dir = mkdtempSync(join(tmpdir(), 'chainlog-test-run-'));
  process.env[RUN_DIR] = dir;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    delete process.env[RUN_DIR];
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
}
