import { afterEach, describe, expect, it } from 'vitest';
import { logVerifiers, openCheckpoint, signCheckpoint } from '../../src/core/checkpoint.js';
import { CompactRange } from '../../src/core/compact/range.js';
import { fromHex, toHex } from '../../src/core/hex.js';
import { eventLeafHash, ZERO_HASH_HEX } from '../../src/core/leaf.js';
import { createSigner, parseVerifierKey } from '../../src/core/note/signed-note.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { verifyConsistency, verifyInclusion } from '../../src/core/proof/verify.js';
import { verifyRange } from '../../src/core/proof/range.js';
import { LogError } from '../../src/log/errors.js';
import { event, openPipeline, type TestPipeline } from '../support/pipeline.js';

let p: TestPipeline;
afterEach(async () => p?.destroy());

describe('sequence', () => {
  it('links concurrent appends to one log into one gapless chain', async () => {
    p = await openPipeline();
    const results = await Promise.all(Array.from({ length: 200 }, () => p.service.append([event('shop')])));
    const events = results.flat().sort((a, b) => a.seq - b.seq);
    expect(events.map((e) => e.seq)).toEqual([...Array(200).keys()]);
    events.forEach((e, i) => {
      expect(e.prevHash).toBe(i === 0 ? ZERO_HASH_HEX : events[i - 1]!.hash);
      expect(e.hash).toBe(eventLeafHash(e));
    });
  });

  it('commits concurrent appends together (group commit)', async () => {
    p = await openPipeline();
    const calls: number[] = [];
    const original = p.storage.appendEvents.bind(p.storage);
    p.storage.appendEvents = async (events: Parameters<typeof original>[0]) => {
      calls.push(events.length);
      return original(events);
    };
    await Promise.all(Array.from({ length: 300 }, (_, i) => p.service.append([event(`app${i % 3}`)])));
    expect(calls.reduce((a, b) => a + b, 0)).toBe(300);
    expect(calls.length).toBeLessThan(10);
  });

  it('keeps each log independent: a conflict in one request fails only that request', async () => {
    p = await openPipeline();
    const [first] = await p.service.append([event('a')]);
    const results = await Promise.allSettled([
      p.service.append([event('a', { expectedPrevHash: '1'.repeat(64) })]),
      p.service.append([event('b')]),
      p.service.append([event('a', { expectedPrevHash: first!.hash })]),
    ]);
    expect(results[0].status).toBe('rejected');
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(LogError);
    expect((results[0] as PromiseRejectedResult).reason.code).toBe('CONFLICT');
    expect(results[1].status).toBe('fulfilled');
    expect(results[2].status).toBe('fulfilled');
    expect((await p.service.getLogHead('a'))!.size).toBe(2);
  });

  it('writes nothing from a batch when one item conflicts, and names it by index', async () => {
    p = await openPipeline();
    await p.service.append([event('a')]);
    const err = await p.service
      .append([event('a'), event('b'), event('a', { expectedPrevHash: ZERO_HASH_HEX })])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogError);
    expect((err as LogError).details).toEqual([expect.objectContaining({ index: 2, field: 'expectedPrevHash' })]);
    expect((await p.service.getLogHead('a'))!.size).toBe(1);
    expect(await p.service.getLogHead('b')).toBeNull();
  });

  it('returns the original event for an idempotent retry and rejects the key with other content', async () => {
    p = await openPipeline();
    const req = event('a', { idempotencyKey: 'k-1' });
    const [original] = await p.service.append([req]);
    const [retry] = await p.service.append([req]);
    expect(retry).toEqual(original);
    const concurrent = await Promise.all([p.service.append([req]), p.service.append([req])]);
    expect(concurrent.flat().every((e) => e.hash === original!.hash)).toBe(true);
    await expect(p.service.append([{ ...req, payload: { other: true } }])).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await p.service.getLogHead('a'))!.size).toBe(1);
  });

  it('deduplicates the same key within one batch and across concurrent first attempts', async () => {
    p = await openPipeline();
    const req = event('a', { idempotencyKey: 'same' });
    const [x, y] = await p.service.append([req, req]);
    expect(y).toEqual(x);
    const req2 = event('a', { idempotencyKey: 'race' });
    const racing = await Promise.all(Array.from({ length: 5 }, () => p.service.append([req2])));
    expect(new Set(racing.flat().map((e) => e.seq)).size).toBe(1);
    expect((await p.service.getLogHead('a'))!.size).toBe(2);
  });
});

describe('integrate and publish', () => {
  it('publishes signed checkpoints that verify with the published verifier key', async () => {
    p = await openPipeline();
    await p.service.append(Array.from({ length: 37 }, () => event('shop')));
    const [cp] = await p.service.publishCheckpoints();
    expect(cp!.treeSize).toBe(37);
    const verifier = parseVerifierKey(p.service.info.verifierKey);
    const signed = openCheckpoint(cp!.note, logVerifiers(verifier, p.service.originOf(cp!.sourceAppId)));
    expect(signed.origin).toBe('test.chainlog/shop');
    expect(signed.size).toBe(37);
    expect(Buffer.from(signed.rootHash).toString('hex')).toBe(cp!.rootHash);
    expect(await p.service.publishCheckpoints()).toEqual([]); // nothing grew
  });

  it("signs each log under its origin as key name (C2SP tlog-checkpoint), and serves that log's verifier key", async () => {
    p = await openPipeline();
    await p.service.append([event('shop'), event('till')]);
    const published = await p.service.publishCheckpoints();
    const pinned = parseVerifierKey(p.service.info.verifierKey);
    for (const cp of published) {
      const origin = p.service.originOf(cp.sourceAppId);
      // The note's one signature line names the origin; the log's own verifier key alone opens it.
      expect(
        cp.note
          .split('\n')
          .filter((l) => l.startsWith('— '))
          .map((l) => l.split(' ')[1]),
      ).toEqual([origin]);
      const own = parseVerifierKey(p.service.verifierKeyOf(cp.sourceAppId));
      expect(own.name).toBe(origin);
      expect(Buffer.from(own.publicKey)).toEqual(Buffer.from(pinned.publicKey));
      expect(openCheckpoint(cp.note, own, origin).size).toBe(1);
      // The key under the server's key name does not open it by itself: the name is part of the key id.
      expect(() => openCheckpoint(cp.note, pinned)).toThrow(/no verifiable signatures/);
    }
  });

  it("still verifies a checkpoint signed under the server's key name, at start and in verifyLog", async () => {
    p = await openPipeline();
    const events = await p.service.append([event('shop'), event('shop')]);
    const range = CompactRange.new(0);
    for (const e of events) range.append(fromHex(e.hash));
    const key = loadSigningKey({ dataDir: p.dir });
    const legacy = signCheckpoint(
      { origin: p.service.originOf('shop'), size: 2, rootHash: range.rootHash() },
      createSigner('test.chainlog', key.privateKey),
    );
    await p.storage.putCheckpoint({
      sourceAppId: 'shop',
      treeSize: 2,
      rootHash: toHex(range.rootHash()),
      note: legacy,
      publishedAt: Date.now(),
    });
    p = await p.restart();
    expect(p.service.quarantineOf('shop')).toBeNull();
    expect((await p.service.verifyLog('shop')).ok).toBe(true);
    await p.service.append([event('shop')]);
    const [next] = await p.service.publishCheckpoints();
    expect(next!.treeSize).toBe(3);
  });

  it('integrates a large backlog in bounded steps, so appends are not held behind one big write', async () => {
    p = await openPipeline();
    for (let i = 0; i < 6; i++) await p.service.append(Array.from({ length: 2000 }, () => event('shop')));
    const steps: number[] = [];
    const original = p.storage.integrate.bind(p.storage);
    p.storage.integrate = async (app, from, to, nodes) => {
      steps.push(to - from);
      return original(app, from, to, nodes);
    };
    const [cp] = await p.service.publishCheckpoints();
    expect(cp!.treeSize).toBe(12_000);
    expect(steps).toEqual([5000, 5000, 2000]);
    expect(await p.service.verifyLog('shop')).toMatchObject({ ok: true, eventsChecked: 12_000 });
  });

  it('serves inclusion, consistency and range proofs that verify', async () => {
    p = await openPipeline();
    const events = await p.service.append(Array.from({ length: 50 }, () => event('shop')));
    const [cp1] = await p.service.publishCheckpoints();
    await p.service.append(Array.from({ length: 23 }, () => event('shop')));
    const [cp2] = await p.service.publishCheckpoints();
    for (const seq of [0, 1, 31, 49]) {
      const proof = await p.service.inclusionProof('shop', seq, 50);
      expect(proof.leafHash).toBe(events[seq]!.hash);
      verifyInclusion(fromHex(proof.leafHash), seq, 50, proof.hashes.map(fromHex), fromHex(cp1!.rootHash));
    }
    const latest = await p.service.inclusionProof('shop', 60);
    expect(latest.treeSize).toBe(73);
    verifyInclusion(fromHex(latest.leafHash), 60, 73, latest.hashes.map(fromHex), fromHex(cp2!.rootHash));
    const cons = await p.service.consistencyProof('shop', 50, 73);
    verifyConsistency(50, 73, cons.hashes.map(fromHex), fromHex(cp1!.rootHash), fromHex(cp2!.rootHash));
    // Any size up to the latest checkpoint, not only checkpointed ones.
    const mid = await p.service.consistencyProof('shop', 13, 41);
    verifyConsistency(13, 41, mid.hashes.map(fromHex), fromHex(mid.fromRoot), fromHex(mid.toRoot));
    const range = await p.service.rangeProof('shop', 10, 60);
    verifyRange(
      10,
      60,
      73,
      range.events.map((e) => fromHex(eventLeafHash(e))),
      range.leftHashes.map(fromHex),
      range.rightHashes.map(fromHex),
      fromHex(cp2!.rootHash),
    );
    expect(() => verifyInclusion(fromHex(latest.leafHash), 61, 73, latest.hashes.map(fromHex), fromHex(cp2!.rootHash))).toThrow();
  });

  it('rejects proofs beyond the latest checkpoint with the field named', async () => {
    p = await openPipeline();
    await expect(p.service.inclusionProof('none', 0)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await p.service.append([event('shop'), event('shop')]);
    await p.service.publishCheckpoints();
    await expect(p.service.inclusionProof('shop', 2)).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
      details: [{ field: 'seq' }],
    });
    await expect(p.service.inclusionProof('shop', 0, 3)).rejects.toMatchObject({ details: [{ field: 'treeSize' }] });
    await expect(p.service.consistencyProof('shop', 2, 1)).rejects.toMatchObject({ details: [{ field: 'fromSize' }] });
    await expect(p.service.rangeProof('shop', 1, 1)).rejects.toMatchObject({ details: [{ field: 'end' }] });
  });

  it('bounds a range proof to 1,000 events, naming the field and the rule', async () => {
    p = await openPipeline();
    await p.service.append(Array.from({ length: 600 }, () => event('shop')));
    await p.service.append(Array.from({ length: 401 }, () => event('shop')));
    await p.service.publishCheckpoints();
    const refused = await p.service.rangeProof('shop', 0, 1001).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(LogError);
    expect(refused).toMatchObject({
      code: 'BAD_USER_INPUT',
      message: 'a range proof covers at most 1000 events',
      details: [{ field: 'end' }],
    });
    const most = await p.service.rangeProof('shop', 1, 1001);
    expect(most.events.map((e) => e.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
  });

  it('emits each checkpoint with a consistency proof from the previous one', async () => {
    p = await openPipeline();
    const updates: Parameters<Parameters<typeof p.service.onCheckpoint>[0]>[0][] = [];
    p.service.onCheckpoint((u) => updates.push(u));
    await p.service.append(Array.from({ length: 5 }, () => event('x')));
    await p.service.publishCheckpoints();
    await p.service.append(Array.from({ length: 6 }, () => event('x')));
    await p.service.publishCheckpoints();
    expect(updates.map((u) => u.checkpoint.treeSize)).toEqual([5, 11]);
    expect(updates[0]!.previous).toBeNull();
    const [, second] = updates;
    verifyConsistency(
      5,
      11,
      second!.consistencyHashes.map(fromHex),
      fromHex(second!.previous!.rootHash),
      fromHex(second!.checkpoint.rootHash),
    );
  });
});

describe('restart', () => {
  it('integrates and publishes what was sequenced before a stop, and continues the chain', async () => {
    p = await openPipeline();
    await p.service.append(Array.from({ length: 20 }, () => event('shop')));
    // Stopped before any checkpoint cycle: the tree lags the events.
    p = await p.restart();
    const cp = await p.service.getCheckpoint('shop');
    expect(cp!.treeSize).toBe(20);
    const [next] = await p.service.append([event('shop')]);
    expect(next!.seq).toBe(20);
    const report = await p.service.verifyLog('shop');
    expect(report).toMatchObject({ ok: true, eventsChecked: 21 });
  });

  it('rebuilds tree nodes lost after the integrated size was rolled back', async () => {
    p = await openPipeline();
    await p.service.append(Array.from({ length: 40 }, () => event('shop')));
    await p.service.publishCheckpoints();
    await p.service.append(Array.from({ length: 9 }, () => event('shop')));
    await p.service.publishCheckpoints();
    // As if the process died after storing nodes for 40 but before raising the size past it.
    p.storage.db.prepare('UPDATE logs SET integrated_size = 40').run();
    p.storage.db.prepare('DELETE FROM tree_nodes WHERE idx * (1 << level) >= 40').run();
    p = await p.restart();
    await p.service.append([event('shop')]);
    const [cp] = await p.service.publishCheckpoints();
    expect(cp!.treeSize).toBe(50);
    expect((await p.service.verifyLog('shop')).ok).toBe(true);
  });

  it('keeps the signing key across restarts, private to its owner', async () => {
    p = await openPipeline();
    const key = p.service.info.verifierKey;
    const { statSync } = await import('node:fs');
    expect(statSync(`${p.dir}/signing-key.pem`).mode & 0o777).toBe(0o600);
    p = await p.restart();
    expect(p.service.info.verifierKey).toBe(key);
  });
});
