// One load client for every log the peers scenario compares: `clients` keep-alive clients each POSTing
// one entry after another, and a poller reading the log's C2SP checkpoint (its second line is the tree
// size), so an entry's proof-ready time (submission -> a published checkpoint covers it) is measured the
// same way for each. Responses are read with a regular expression, not a JSON parser, so the client
// spends the same on every peer's answer.
//
// The client is undici's Pool, not node:http's Agent: on this machine's two cores the load client shares
// the CPU with the server it drives, and node:http's client spends about 0.22 ms per request against
// undici's 0.09 ms (a trivial server at 512 clients; docs/performance.md, "Session 35"), as much as the
// server under test does. What the client spends, the server does not get.
import { Pool } from 'undici';

export interface Target {
  /** POST URL and content type of one entry. */
  postUrl: string;
  contentType: string;
  /** Other request headers of each POST (e.g. chainlog's `Prefer: return=minimal`). */
  headers?: Record<string, string>;
  /** The body of the i-th entry. */
  body(i: number): string;
  /** The acknowledged entry's index in its log, from a 2xx answer; undefined if the answer is not an ack. */
  indexOf(status: number, body: string): number | undefined;
  /** GET URL of the log's checkpoint (c2sp.org/tlog-checkpoint text). */
  checkpointUrl: string;
}

export interface DriveRun {
  clients: number;
  seconds: number;
  requests: number;
  errors: number;
  firstError?: string;
  perSecond: number;
  ackMs: number[];
  /** Sampled entries: submission to the first polled checkpoint that covers it. */
  proofReadyMs: number[];
  /** The same samples from their acknowledgement: the publisher's share of proof-ready (the rest is the ack). */
  proofReadyFromAckMs: number[];
  /** Time between successive checkpoints of larger size seen by the poller during the run (its cadence). */
  checkpointGapsMs: number[];
  /** Sampled entries no checkpoint covered within the wait after the run. */
  uncovered: number;
  /** CPU the server spent per acknowledged entry, ms (null where /proc is missing). */
  serverCpuMsPerEntry: number | null;
  /**
   * CPU this load client's process spent per acknowledged entry, ms (process.cpuUsage, all its threads):
   * it shares the machine's cores with the server, so a client costlier than the server caps both.
   */
  clientCpuMsPerEntry: number;
}

export interface DriveOptions {
  clients: number;
  seconds: number;
  /** One sampled entry per this many ms of submissions. */
  sampleEveryMs?: number;
  /** Checkpoint poll period, ms. */
  pollMs?: number;
  /** How long to wait after the run for the last sample to be covered. */
  coverWaitMs?: number;
  cpuSeconds?: () => number | null;
}

interface Reply {
  status: number;
  body: string;
}

/** Requests time out after this long without headers or body bytes. */
const REQUEST_TIMEOUT_MS = 60_000;

function pool(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
}

async function send(
  pool: Pool,
  url: URL,
  method: 'GET' | 'POST',
  body?: string,
  headers?: Record<string, string>,
): Promise<Reply> {
  const res = await pool.request({ path: url.pathname + url.search, method, ...(body === undefined ? {} : { body, headers }) });
  return { status: res.statusCode, body: await res.body.text() };
}

/** The tree size of a checkpoint note (its second line). */
export function checkpointSize(note: string): number | undefined {
  const line = note.split('\n', 2)[1];
  return line !== undefined && /^\d+$/.test(line) ? Number(line) : undefined;
}

export async function drive(target: Target, o: DriveOptions): Promise<DriveRun> {
  const sampleEveryMs = o.sampleEveryMs ?? 20;
  const pollMs = o.pollMs ?? 10;
  const postUrl = new URL(target.postUrl);
  const cpUrl = new URL(target.checkpointUrl);
  const postHeaders = { 'content-type': target.contentType, ...target.headers };
  const posts = pool(postUrl.origin, o.clients);
  const polls = pool(cpUrl.origin, 1);
  const ackMs: number[] = [];
  const samples: Array<{ index: number; submittedAt: number; ackedAt: number; coveredAt?: number }> = [];
  const checkpointGapsMs: number[] = [];
  let lastSize = -1;
  let lastGrewAt: number | undefined;
  const pendingSamples: typeof samples = [];
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let i = 0;
  let lastSample = -Infinity;

  // The poller marks each sample covered at the first checkpoint whose size exceeds its index.
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const t = performance.now();
      try {
        const r = await send(polls, cpUrl, 'GET');
        const size = r.status === 200 ? checkpointSize(r.body) : undefined;
        if (size !== undefined) {
          const at = performance.now();
          if (size > lastSize) {
            if (lastSize >= 0 && lastGrewAt !== undefined && pendingSamples.length > 0) checkpointGapsMs.push(at - lastGrewAt);
            lastSize = size;
            lastGrewAt = at;
          }
          for (let k = pendingSamples.length - 1; k >= 0; k--) {
            const s = pendingSamples[k]!;
            if (s.index < size) {
              s.coveredAt = at;
              pendingSamples.splice(k, 1);
            }
          }
        }
      } catch {
        // a failed poll is retried at the next period
      }
      const wait = pollMs - (performance.now() - t);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();

  const cpu0 = o.cpuSeconds?.() ?? null;
  const clientCpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + o.seconds * 1000;
  try {
    await Promise.all(
      Array.from({ length: o.clients }, async () => {
        while (performance.now() < end) {
          const body = target.body(i++);
          const t = performance.now();
          const sampled = t - lastSample >= sampleEveryMs;
          if (sampled) lastSample = t;
          let reply: Reply;
          try {
            reply = await send(posts, postUrl, 'POST', body, postHeaders);
          } catch (err) {
            reply = { status: 0, body: (err as Error).message };
          }
          const done = performance.now();
          requests++;
          const index = reply.status >= 200 && reply.status < 300 ? target.indexOf(reply.status, reply.body) : undefined;
          if (index === undefined) {
            errors++;
            firstError ??= `HTTP ${reply.status}: ${reply.body.slice(0, 300)}`;
            continue;
          }
          ackMs.push(done - t);
          if (sampled) {
            const s = { index, submittedAt: t, ackedAt: done };
            samples.push(s);
            pendingSamples.push(s);
          }
        }
      }),
    );
  } finally {
    await posts.destroy();
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = o.cpuSeconds?.() ?? null;
  const clientCpu = process.cpuUsage(clientCpu0);
  const coverDeadline = performance.now() + (o.coverWaitMs ?? 10_000);
  while (pendingSamples.length > 0 && performance.now() < coverDeadline) await new Promise((r) => setTimeout(r, pollMs));
  polling = false;
  await poll;
  await polls.destroy();
  const acked = requests - errors;
  return {
    clients: o.clients,
    seconds: elapsed,
    requests,
    errors,
    ...(firstError ? { firstError } : {}),
    perSecond: acked / elapsed,
    ackMs,
    proofReadyMs: samples.filter((s) => s.coveredAt !== undefined).map((s) => s.coveredAt! - s.submittedAt),
    proofReadyFromAckMs: samples.filter((s) => s.coveredAt !== undefined).map((s) => Math.max(0, s.coveredAt! - s.ackedAt)),
    checkpointGapsMs,
    uncovered: samples.filter((s) => s.coveredAt === undefined).length,
    serverCpuMsPerEntry: cpu0 !== null && cpu1 !== null && acked > 0 ? ((cpu1 - cpu0) * 1000) / acked : null,
    clientCpuMsPerEntry: acked > 0 ? (clientCpu.user + clientCpu.system) / 1000 / acked : 0,
  };
}
