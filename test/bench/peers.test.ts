import { describe, expect, it } from 'vitest';
import { Gauge, Histogram, Registry } from 'prom-client';
import { checkpointSize } from '../../bench/peers/drive.js';
import { serverCountersOf } from '../../bench/scenarios/peers.js';
import { startNodeFloor } from '../../bench/peers/node-floor.js';
import { installTessera, noteSignerKey } from '../../bench/peers/tessera.js';
import { keyId } from '../../src/core/note/signed-note.js';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('the peers scenario', () => {
  it('writes a note signer key as Go reads it: PRIVATE+KEY+name+id+base64(0x01 || seed), the id of its public key', () => {
    const key = noteSignerKey('bench.example/tessera');
    // The base64 text may itself hold '+'.
    const parts = key.split('+');
    const [p, k, name, id] = parts as [string, string, string, string];
    const encoded = parts.slice(4).join('+');
    expect([p, k, name]).toEqual(['PRIVATE', 'KEY', 'bench.example/tessera']);
    const bytes = Buffer.from(encoded, 'base64');
    expect(bytes.length).toBe(33);
    expect(bytes[0]).toBe(0x01);
    // The seed's public key gives the key id the string carries.
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), bytes.subarray(1)]);
    const pub = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }))
      .export({ format: 'der', type: 'spki' })
      .subarray(-32);
    expect(id).toBe(Buffer.from(keyId(name, pub)).toString('hex'));
    expect(noteSignerKey('x')).not.toBe(noteSignerKey('x'));
  });

  it('reads the tree size of a checkpoint from its second line, and nothing from a malformed one', () => {
    expect(checkpointSize('example.com/log\n1234\nroothash=\n\n— sig\n')).toBe(1234);
    expect(checkpointSize('example.com/log\n12a\nroot\n')).toBeUndefined();
    expect(checkpointSize('no second line')).toBeUndefined();
  });

  it("reads a server's group commits and its main thread's GC pauses, every kind summed, from prom-client's exposition", async () => {
    const registry = new Registry();
    const gc = new Histogram({ name: 'nodejs_gc_duration_seconds', help: 'gc', labelNames: ['kind'], registers: [registry] });
    const commits = new Gauge({ name: 'chainlog_group_commits', help: 'commits', labelNames: ['count'], registers: [registry] });
    commits.set({ count: 'commits' }, 12);
    commits.set({ count: 'events' }, 660);
    gc.observe({ kind: 'minor' }, 0.004);
    gc.observe({ kind: 'minor' }, 0.0015);
    gc.observe({ kind: 'major' }, 0.01);
    gc.observe({ kind: 'incremental' }, 0.00025);
    const counters = serverCountersOf(await registry.metrics());
    expect(counters).toMatchObject({ commits: 12, events: 660 });
    expect(counters!.gcSeconds).toBeCloseTo(0.01575, 12);
    // A build without the commit counters, or with only one of them.
    expect(serverCountersOf(await new Registry().metrics())).toBeNull();
    expect(serverCountersOf('chainlog_group_commits{count="commits"} 3\n')).toBeNull();
    // A server that has not collected yet.
    expect(serverCountersOf('chainlog_group_commits{count="commits"} 3\nchainlog_group_commits{count="events"} 9\n')).toEqual({
      commits: 3,
      events: 9,
      gcSeconds: 0,
    });
  });

  it('the Node floor answers each entry with its index and covers it in its checkpoint at once; it refuses a body that is not JSON', async () => {
    const floor = await startNodeFloor();
    try {
      const post = (body: string) =>
        fetch(`${floor.url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const first = await post('{"sourceAppId":"peers","eventType":"x"}');
      expect(first.status).toBe(201);
      expect(await first.json()).toMatchObject({ sourceAppId: 'peers', seq: 0 });
      expect(await (await post('{"sourceAppId":"peers"}')).json()).toMatchObject({ seq: 1 });
      expect((await post('{"sourceAppId":')).status).toBe(400);
      expect(checkpointSize(await (await fetch(`${floor.url}/checkpoint`)).text())).toBe(2);
      expect(floor.cpuSeconds()).toBeGreaterThan(0);
    } finally {
      await floor.stop();
    }
    await expect(fetch(`${floor.url}/checkpoint`)).rejects.toThrow();
  });

  it('says why the peer is skipped where Go is missing, without building anything', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'chainlog-peer-cache-'));
    const saved = { PATH: process.env.PATH, BENCH_PEER_CACHE: process.env.BENCH_PEER_CACHE };
    process.env.PATH = cache; // no `go` there
    process.env.BENCH_PEER_CACHE = cache;
    try {
      const logs: string[] = [];
      const r = await installTessera((m) => logs.push(m));
      expect(r).toEqual({
        unavailable:
          'Go is not installed (no `go` on PATH): the peer github.com/transparency-dev/tessera/cmd/conformance/posix@v1.0.4 cannot be built',
      });
      expect(logs).toEqual([]);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.BENCH_PEER_CACHE === undefined) delete process.env.BENCH_PEER_CACHE;
      else process.env.BENCH_PEER_CACHE = saved.BENCH_PEER_CACHE;
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
