// 5. Proofs on the big log of the data set (1,000,000 leaves in the full run): inclusion, consistency
// and 1,000-event range proofs. Server time is the log service's own proof call (the code the resolvers
// run) over a second connection to the same store, without HTTP/GraphQL; the HTTP round trip is sampled
// beside the trivial query. Client verification uses the core verify functions on proofs the server sent.
import {
  fromHex,
  leafHashHex,
  type EventJson,
  logVerifiers,
  openCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
  verifyRange,
} from '../../src/core/index.js';
import { mulberry32 } from '../../src/simulator/prng.js';
import { GraphQLClient } from '../http.js';
import { inclusionServerTime, openProofService, timeCalls } from '../proof-sampling.js';
import { CONSISTENCY, INCLUSION, RANGE, TRIVIAL } from '../queries.js';
import { figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';
import { budget } from '../load.js';
import { sized } from '../sizes.js';

const RANGE_LEN = 1000;

/** Calls per second of `fn` over about `ms` milliseconds (at least `min` calls). */
function ratePerSecond(fn: (i: number) => void, ms: number, min = 10): { perSecond: number; calls: number } {
  let calls = 0;
  const t0 = performance.now();
  while (calls < min || performance.now() - t0 < ms) fn(calls++);
  return { perSecond: calls / ((performance.now() - t0) / 1000), calls };
}

export const proofs: Scenario = {
  id: '5',
  title: 'Proofs at the big log (inclusion, consistency, 1,000-event range)',
  usesDataset: true,
  measures:
    "Server time (the log service's proof call over its own store connection, no HTTP) and HTTP round trip of inclusion " +
    '(random leaf), consistency (random old size to the checkpoint) and 1,000-event range proofs (random start) at the ' +
    'checkpoint of the big log; range proof hash counts for lengths 1-1000; client verification rates of the core functions.',
  async run(ctx) {
    const { engine } = ctx;
    const ds = ctx.dataset!;
    const app = ds.bigLog;
    const size = ds.bigSize;
    const r = mulberry32(5);
    const randInt = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo)); // [lo, hi)
    const serverSamples = sized(ctx, { quick: 200, full: 2000, slowQuick: 20, slowFull: 300 });
    const httpSamples = sized(ctx, { quick: 30, full: 300, slowQuick: 5, slowFull: 50 });
    const rangeServerSamples = sized(ctx, { quick: 20, full: 200, slowQuick: 3, slowFull: 30 });
    const rangeHttpSamples = sized(ctx, { quick: 10, full: 50, slowQuick: 2, slowFull: 10 });
    const perLength = sized(ctx, { quick: 20, full: 50, slowQuick: 3, slowFull: 10 });
    // Each sampling loop stops early after this many seconds (shared, noisy machine; slow engines).
    const seconds = sized(ctx, { quick: 4, full: 60, slowQuick: 1.5, slowFull: 15 });

    const proofService = await openProofService(ds.server.env, 'bench');
    const { service } = proofService;
    const client = new GraphQLClient(ds.server.url, { maxSockets: 1 });
    try {
      const cp = await service.getCheckpoint(app);
      if (!cp || cp.treeSize !== size) throw new Error(`big log checkpoint is at ${cp?.treeSize}, expected ${size}`);
      const root = fromHex(cp.rootHash);

      // --- server time ----------------------------------------------------------------------
      const time = async (n: number, call: () => Promise<unknown>) => summarize(await timeCalls(budget(n, seconds), call));
      ctx.log(`5: server time at ${size} leaves`);
      await inclusionServerTime(service, { app, size, rand: r, more: budget(Math.min(50, serverSamples), seconds) }); // warm-up
      const incServer = await inclusionServerTime(service, { app, size, rand: r, more: budget(serverSamples, seconds) });
      const conServer = await time(serverSamples, () => service.consistencyProof(app, randInt(1, size), size));
      const rangeServer = await time(rangeServerSamples, () => {
        const start = randInt(0, size - RANGE_LEN + 1);
        return service.rangeProof(app, start, start + RANGE_LEN);
      });

      // Range proof size against its length.
      const bound = 2 * Math.ceil(Math.log2(size));
      const sizes: Record<string, { mean: number; max: number }> = {};
      let worst = 0;
      for (const len of [1, 10, 100, 1000].filter((l) => l <= size)) {
        const counts: number[] = [];
        for (let i = 0; i < perLength; i++) {
          const start = randInt(0, size - len + 1);
          const p = await service.rangeProof(app, start, start + len);
          counts.push(p.leftHashes.length + p.rightHashes.length);
        }
        const s = summarize(counts);
        sizes[String(len)] = { mean: Number(s.mean.toFixed(2)), max: s.max };
        worst = Math.max(worst, s.max);
      }

      // --- HTTP round trips, with the trivial query in the same loop ---------------------------
      ctx.log('5: HTTP round trips');
      const inc: number[] = [];
      const con: number[] = [];
      const trivial: number[] = [];
      const incProofs: Array<{ leaf: Uint8Array; index: number; hashes: Uint8Array[] }> = [];
      const conProofs: Array<{ from: number; fromRoot: Uint8Array; hashes: Uint8Array[] }> = [];
      for (const more = budget(httpSamples, seconds); more();) {
        let t = performance.now();
        const a = await client.request<{
          inclusionProof: { leafIndex: number; treeSize: number; leafHash: string; hashes: string[] };
        }>(INCLUSION, {
          app,
          seq: randInt(0, size),
          size,
        });
        inc.push(performance.now() - t);
        incProofs.push({
          leaf: fromHex(a.inclusionProof.leafHash),
          index: a.inclusionProof.leafIndex,
          hashes: a.inclusionProof.hashes.map(fromHex),
        });
        t = performance.now();
        const b = await client.request<{ consistencyProof: { fromSize: number; fromRoot: string; hashes: string[] } }>(
          CONSISTENCY,
          {
            app,
            from: randInt(1, size),
            to: size,
          },
        );
        con.push(performance.now() - t);
        conProofs.push({
          from: b.consistencyProof.fromSize,
          fromRoot: fromHex(b.consistencyProof.fromRoot),
          hashes: b.consistencyProof.hashes.map(fromHex),
        });
        t = performance.now();
        await client.request(TRIVIAL);
        trivial.push(performance.now() - t);
      }
      const rng1000: number[] = [];
      const rangeProofs: Array<{ start: number; end: number; left: Uint8Array[]; right: Uint8Array[]; events: EventJson[] }> = [];
      for (const more = budget(rangeHttpSamples, seconds, 2); more();) {
        const start = randInt(0, size - RANGE_LEN + 1);
        const t = performance.now();
        const p = await client.request<{
          rangeProof: { start: number; end: number; leftHashes: string[]; rightHashes: string[]; events: EventJson[] };
        }>(RANGE, { app, start, end: Math.min(size, start + RANGE_LEN), size });
        rng1000.push(performance.now() - t);
        const rp = p.rangeProof;
        rangeProofs.push({
          start: rp.start,
          end: rp.end,
          left: rp.leftHashes.map(fromHex),
          right: rp.rightHashes.map(fromHex),
          events: rp.events,
        });
      }

      // --- client verification -------------------------------------------------------------------
      ctx.log('5: client verification');
      const vInc = ratePerSecond((i) => {
        const p = incProofs[i % incProofs.length]!;
        verifyInclusion(p.leaf, p.index, size, p.hashes, root);
      }, 1000);
      const vCon = ratePerSecond((i) => {
        const p = conProofs[i % conProofs.length]!;
        verifyConsistency(p.from, size, p.hashes, p.fromRoot, root);
      }, 1000);
      const vRange = ratePerSecond(
        (i) => {
          const p = rangeProofs[i % rangeProofs.length]!;
          // A verifier recomputes every leaf from the event's fields (spec: "What a verifier does").
          const leaves = p.events.map((e) => fromHex(leafHashHex(e)));
          verifyRange(p.start, p.end, size, leaves, p.left, p.right, root);
        },
        1000,
        3,
      );
      const verifiers = logVerifiers(parseVerifierKey(service.info.verifierKey), service.originOf(cp.sourceAppId));
      const vSig = ratePerSecond(() => openCheckpoint(cp.note, verifiers), 500);

      const si = summarize(inc);
      const sc = summarize(con);
      const st = summarize(trivial);
      const sr = summarize(rng1000);
      const trivialBase = { name: 'trivial query p95 (HTTP)', value: st.p95, unit: 'ms' };
      return {
        figures: [
          figure(engine.name, `inclusion proof server time p95 at ${size.toLocaleString('en-US')} leaves`, incServer.p95, 'ms', {
            baseline: { name: 'p50', value: incServer.p50, unit: 'ms' },
            target: { op: '<=', value: 2, text: '<= 2 ms at 1M leaves' },
          }),
          figure(engine.name, 'inclusion proof HTTP round trip p95', si.p95, 'ms', { baseline: trivialBase }),
          figure(engine.name, 'consistency proof server time p95', conServer.p95, 'ms', {
            baseline: { name: 'p50', value: conServer.p50, unit: 'ms' },
          }),
          figure(engine.name, 'consistency proof HTTP round trip p95', sc.p95, 'ms', { baseline: trivialBase }),
          figure(engine.name, '1,000-event range proof server time p95', rangeServer.p95, 'ms', {
            baseline: { name: 'p50', value: rangeServer.p50, unit: 'ms' },
          }),
          figure(engine.name, '1,000-event range proof HTTP round trip p95', sr.p95, 'ms', { baseline: trivialBase }),
          figure(engine.name, 'range proof hashes, worst over lengths 1-1000', worst, 'hashes', {
            target: { op: '<=', value: bound, text: `independent of length (<= 2*ceil(log2 N) = ${bound})` },
            note: Object.entries(sizes)
              .map(([len, s]) => `len ${len}: mean ${s.mean}`)
              .join(', '),
          }),
          figure(engine.name, 'client inclusion verification', vInc.perSecond, 'proofs/s'),
          figure(engine.name, 'client consistency verification', vCon.perSecond, 'proofs/s'),
          figure(engine.name, 'client 1,000-event range verification (leaves recomputed)', vRange.perSecond, 'proofs/s'),
          figure(engine.name, 'client checkpoint signature verification', vSig.perSecond, 'notes/s'),
        ],
        details: {
          sourceAppId: app,
          treeSize: size,
          serverTimeMs: {
            inclusion: roundSummary(incServer),
            consistency: roundSummary(conServer),
            range1000: roundSummary(rangeServer),
          },
          httpMs: {
            inclusion: roundSummary(si),
            consistency: roundSummary(sc),
            range1000: roundSummary(sr),
            trivial: roundSummary(st),
          },
          rangeProofHashesByLength: sizes,
          rangeProofHashBound: bound,
          verificationPerSecond: {
            inclusion: Math.round(vInc.perSecond),
            consistency: Math.round(vCon.perSecond),
            range1000: Number(vRange.perSecond.toFixed(1)),
            checkpointSignature: Math.round(vSig.perSecond),
          },
        },
      };
    } finally {
      client.close();
      await proofService.close();
    }
  },
};
