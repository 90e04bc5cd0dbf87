// Vitest globalSetup: `npm run build` once before any test file starts, so the suites that start the
// service as its users do (`npm start`, the Dockerfile's CMD) run today's sources, and
// their own `npm start` (whose prestart builds too) finds nothing to do instead of several test files
// compiling into dist/ at once. Incremental: with nothing changed it takes a few seconds.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  // Its output is in the error when it fails.
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: 'pipe' });
}
