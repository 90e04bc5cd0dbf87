// Where large JSON bodies are checked before the event loop parses them: one long-lived worker thread
// (body-check-worker.ts). Parsing a body of megabytes takes the event loop tens to hundreds of
// milliseconds, during which no other request is served; a body the checks refuse never reaches it.
// A bounded number of large bodies are read or checked at once; a thread that fails answers the
// bodies it held with UNAVAILABLE and the next body starts another.
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ApiError } from './errors.js';
import type { ApiMetrics } from './metrics.js';
import type { BodyCheckRequest, BodyCheckResponse, BodyCheckThreadData } from './body-check-worker.js';
import type { BodyJob, BodyVerdict } from './validation/body-check.js';

/**
 * Large bodies read or checked at once, server-wide. Each is held in memory whole (up to
 * MAX_BODY_BYTES), so this bounds what a flood of them can hold; more are refused at once with
 * UNAVAILABLE (rule `bodyCheckBusy`, HTTP 503, retryAfterMs) before their bytes are read.
 */
export const MAX_LARGE_BODIES = 8;

export interface BodyChecker {
  readonly maxLargeBodies: number;
  /** A place for one large body, to release once it is checked and parsed; null when all are taken. */
  acquire(): (() => void) | null;
  /** The verdict on `bytes`, and the bytes (possibly moved: use the returned buffer, not the one passed). */
  check(bytes: Buffer, job: BodyJob): Promise<{ verdict: BodyVerdict; bytes: Buffer }>;
  close(): Promise<void>;
}

export interface BodyCheckOptions {
  logger?: Logger;
  metrics?: Pick<ApiMetrics, 'largeBodies' | 'largeBodyChecks'>;
  maxLargeBodies?: number;
  /** The thread's entry point: body-check-worker by default; a test starts one that fails on demand. */
  threadEntry?: URL;
  /** Where the schema's SDL is; the service's own by default. */
  schemaDir?: string;
}

export const bodyCheckBusy = (maxLargeBodies: number) =>
  new ApiError(
    'UNAVAILABLE',
    `body: too many large request bodies are being checked (at most ${maxLargeBodies} at once); retry later`,
    {
      field: 'body',
      rule: 'bodyCheckBusy',
      extra: { retryAfterMs: 1000 },
    },
  );

export const bodyCheckFailed = () =>
  new ApiError('UNAVAILABLE', 'body: the thread that checks large request bodies failed before answering; retry', {
    field: 'body',
    rule: 'bodyCheckFailed',
    extra: { retryAfterMs: 1000 },
  });

/**
 * The thread's entry point, next to this module and as this module runs: built JavaScript (dist/),
 * which Node runs as it is, or TypeScript sources (tsx, vitest), which a worker thread loads through
 * tsx's scoped import (as the SQLite writer thread does: src/storage/sqlite/write-thread.ts).
 */
function checkThreadEntry(): URL {
  const built = new URL('./body-check-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return built;
  const entry = new URL('./body-check-worker.ts', import.meta.url).href;
  const api = import.meta.resolve('tsx/esm/api');
  const loader = `const { tsImport } = await import(${JSON.stringify(api)});\nawait tsImport(${JSON.stringify(entry)}, ${JSON.stringify(entry)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(loader)}`);
}

/** A body's bytes as an ArrayBuffer of their own, to move to the thread without a copy when they already are one. */
function ownBuffer(bytes: Buffer): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length && bytes.buffer instanceof ArrayBuffer)
    return bytes.buffer;
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy.buffer;
}

export function bodyCheckThread(opts: BodyCheckOptions = {}): BodyChecker {
  const maxLarge = opts.maxLargeBodies ?? MAX_LARGE_BODIES;
  let held = 0;
  let worker: Worker | null = null;
  let nextId = 1;
  const pending = new Map<
    number,
    { resolve: (r: { verdict: BodyVerdict; bytes: Buffer }) => void; reject: (e: Error) => void; length: number }
  >();

  const failAll = (w: Worker, err: unknown) => {
    if (worker !== w) return;
    worker = null;
    opts.logger?.error(
      { err },
      'the body-checking thread failed; the bodies it held are answered UNAVAILABLE and the next body starts another',
    );
    for (const p of pending.values()) p.reject(bodyCheckFailed());
    pending.clear();
  };

  const start = (): Worker => {
    // No resourceLimits: JSON.parse does not stop for a heap limit, so a worker over its limit takes the
    // whole process down (V8's out-of-memory) instead of failing alone. MAX_LARGE_BODIES bounds its work.
    const w = new Worker(opts.threadEntry ?? checkThreadEntry(), {
      workerData: { ...(opts.schemaDir !== undefined && { schemaDir: opts.schemaDir }) } satisfies BodyCheckThreadData,
    });
    w.unref();
    w.on('message', (res: BodyCheckResponse) => {
      const p = pending.get(res.id);
      if (!p) return;
      pending.delete(res.id);
      if (pending.size === 0) w.unref();
      if ('failure' in res) {
        opts.logger?.error({ failure: res.failure }, 'the body-checking thread could not check a body');
        p.reject(bodyCheckFailed());
      } else {
        p.resolve({ verdict: res.verdict, bytes: Buffer.from(res.bytes, 0, p.length) });
      }
    });
    w.on('error', (err) => failAll(w, err));
    w.on('exit', (code) => failAll(w, new Error(`the body-checking thread exited (code ${code})`)));
    return w;
  };

  return {
    maxLargeBodies: maxLarge,
    acquire() {
      if (held >= maxLarge) {
        opts.metrics?.largeBodyChecks.inc({ outcome: 'busy' });
        return null;
      }
      held++;
      opts.metrics?.largeBodies.set(held);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held--;
        opts.metrics?.largeBodies.set(held);
      };
    },
    check(bytes, job) {
      const w = (worker ??= start());
      const id = nextId++;
      const counted = opts.metrics?.largeBodyChecks;
      return new Promise<{ verdict: BodyVerdict; bytes: Buffer }>((resolve, reject) => {
        pending.set(id, {
          resolve: (r) => {
            counted?.inc({ outcome: r.verdict.ok ? 'accepted' : 'refused' });
            resolve(r);
          },
          reject: (e) => {
            counted?.inc({ outcome: 'failed' });
            reject(e);
          },
          length: bytes.length,
        });
        w.ref();
        const buffer = ownBuffer(bytes);
        w.postMessage({ id, job, bytes: buffer, length: bytes.length } satisfies BodyCheckRequest, [buffer]);
      });
    },
    async close() {
      const w = worker;
      worker = null;
      for (const p of pending.values()) p.reject(bodyCheckFailed());
      pending.clear();
      if (w) await w.terminate();
    },
  };
}
