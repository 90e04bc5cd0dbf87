// The young generations of the service's threads.
//
// The main thread's is sized on node's command line (`npm start` and the image pass
// `--max-semi-space-size=32`): at many concurrent requests its scavenges copy every request in flight,
// so fewer of them (larger semi-spaces) cut the garbage collector's share of the work
// (docs/performance.md, "The main thread's young generation"). V8 reads that flag again for each worker
// thread it starts, where it overrides the thread's own `resourceLimits` (the SQLite writer's 16 MB,
// src/storage/sqlite/write-thread.ts). Clearing it once the main heap is configured gives every worker
// its own again.
import { setFlagsFromString } from 'node:v8';

/**
 * Clears `--max-semi-space-size` back to V8's default (0: no override). The main isolate keeps the size
 * it started with; worker threads started afterwards size their young generation from their own
 * `resourceLimits` (or V8's default). Call before the first worker starts.
 */
export function leaveWorkersTheirYoungGeneration(): void {
  setFlagsFromString('--max-semi-space-size=0');
}
