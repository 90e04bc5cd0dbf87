// listErasures against a hostile or lagging server: a real HTTP server that answers erasureRecords with
// pages built from an erasures log made with the core alone, shaped by each test (a `next` that does not
// move forward, a withheld position outside its page, a smaller checkpoint while the audit waits, a forked
// erasures log signed by the right key, a consistency proof that does not verify, a missing cosignature), or
// with the refusal a server whose checkpoint is smaller than the trusted one gives (rule beyondCheckpoint).
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASURES_LOG } from '../../src/auditor/erasure-records.js';
import { listErasures } from '../../src/auditor/erasures.js';
import type { Finding } from '../../src/auditor/findings.js';
import { GraphqlClient } from '../../src/auditor/graphql-client.js';
import { createCosigner, parsePolicy, PositionSet, toHex, type Policy } from '../../src/core/index.js';
import { erasuresLog, signingKey, type TestLog } from './log-fixture.js';

const PREFIX = 'test.chainlog';
const HASH = 'ef'.repeat(32);
const key = signingKey(PREFIX);

/** An erasures log of `n` records, record i listing `shop`'s position i. */
const erasuresOf = (n: number): TestLog => erasuresLog(Array.from({ length: n }, (_, i) => [['shop', i, HASH]]));

/** An honest page of `log` at `size`: records in [from, from + per), next as the server gives it. */
function honestPage(log: TestLog, size: number, from: number, per = 2, consistentWith: number | null = null) {
  const end = Math.min(size, from + per);
  return {
    checkpoint: {
      note: log.note(key.signer, size, `${PREFIX}/${ERASURES_LOG}`),
      treeSize: size,
      rootHash: toHex(log.root(size)),
    },
    records: log.events.slice(from, end).map((event, i) => ({ event, hashes: log.inclusion(from + i, size) })),
    withheld: [] as number[],
    next: end < size ? end : null,
    consistencyProof: consistentWith === null ? null : log.consistency(consistentWith, size),
  };
}

/** The server's refusal of a consistentWith past its checkpoint of size `size`, as chainlog words it. */
const refusal = (size: number) => ({
  refused: `consistentWith must be at most the checkpoint's size ${size}: omit treeSize for the latest checkpoint, or give one at least consistentWith`,
});

let server: Server;
let url: string;
/** What the server answers to erasureRecords(treeSize, from, consistentWith); each test sets it. */
let answer: (
  size: number | null,
  from: number,
  consistentWith: number | null,
) => ReturnType<typeof honestPage> | ReturnType<typeof refusal>;
let reads = 0;
/** The consistentWith of each read, in order (null: not given). */
let asked: Array<number | null> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { query, variables } = JSON.parse(Buffer.concat(chunks).toString()) as {
        query: string;
        variables: { size?: number | null; from?: number; consistentWith?: number };
      };
      let body: unknown;
      if (query.includes('checkpointIntervalMs')) body = { data: { serverInfo: { checkpointIntervalMs: 100 } } };
      else {
        reads++;
        asked.push(variables.consistentWith ?? null);
        const page = answer(variables.size ?? null, variables.from ?? 0, variables.consistentWith ?? null);
        body =
          'refused' in page
            ? {
                data: null,
                errors: [
                  {
                    message: page.refused,
                    extensions: { code: 'BAD_USER_INPUT', field: 'consistentWith', rule: 'beyondCheckpoint' },
                  },
                ],
              }
            : { data: { erasureRecords: page } };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** The checkpoint of `log` at `size` as an auditor trusts it (the state file's). */
const trustedAt = (log: TestLog, size: number) => ({ treeSize: size, rootHash: log.root(size) });

function list(
  erased: number[],
  lateRecordWaitMs = 0,
  more: {
    trusted?: ReturnType<typeof trustedAt>;
    policy?: Policy;
    onWaitingForRecords?: (treeSize: number | null) => void;
  } = {},
) {
  const findings: Finding[] = [];
  reads = 0;
  asked = [];
  const run = listErasures({
    client: new GraphqlClient({ url }),
    app: 'shop',
    originPrefix: PREFIX,
    verifier: key.verifier,
    erased: erased.reduce((set, seq) => set.add(seq), new PositionSet()),
    findings,
    lateRecordWaitMs,
    ...more,
  });
  return run.then((listing) => ({ listing, findings }));
}

describe('the erasure records of a hostile server', () => {
  it('an honest server: every page read once, every listed position counted', async () => {
    const log = erasuresOf(5);
    answer = (size, from) => honestPage(log, size ?? 5, from);
    const { listing, findings } = await list([0, 4]);
    expect(findings).toEqual([]);
    expect([...listing!.listed].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(reads).toBe(3);
  });

  it('a next that does not move forward ends the read with a finding, instead of reading for ever', async () => {
    const log = erasuresOf(5);
    answer = (size, from) => ({ ...honestPage(log, size ?? 5, from), next: from });
    const { listing, findings } = await list([4]);
    expect(listing).toBeNull();
    expect(findings).toEqual([
      expect.objectContaining({ kind: 'MALFORMED_RESPONSE', seq: 4, message: expect.stringMatching(/next 0/) }),
    ]);
    expect(reads).toBe(1);
  });

  it('a next past the checkpoint, or a withheld position outside the page, is a finding', async () => {
    const log = erasuresOf(5);
    answer = (size, from) => ({ ...honestPage(log, size ?? 5, from), next: 9 });
    expect((await list([4])).findings).toEqual([
      expect.objectContaining({ kind: 'MALFORMED_RESPONSE', message: expect.stringMatching(/next 9/) }),
    ]);
    answer = (size, from) => ({ ...honestPage(log, size ?? 5, from), withheld: [7] });
    expect((await list([4])).findings).toEqual([
      expect.objectContaining({ kind: 'MALFORMED_RESPONSE', message: expect.stringMatching(/withheld position 7/) }),
    ]);
  });

  it('keeps what it proved when the server shows a smaller checkpoint while the audit waits', async () => {
    const log = erasuresOf(5);
    // The first read sees size 4; the next ones a server behind, at size 2.
    answer = (size, from) =>
      reads === 1 ? honestPage(log, 4, from, 10) : { ...honestPage(log, size ?? 2, 0, 10), records: [], next: null };
    const { listing, findings } = await list([1, 4], 300);
    expect(findings).toEqual([]);
    expect([...listing!.listed].sort()).toEqual([0, 1, 2, 3]);
    expect(listing!.treeSize).toBe(4);
    expect(reads).toBeGreaterThan(1);
  });

  it('and when the server refuses the proof from that checkpoint while the audit waits, its own being smaller', async () => {
    const log = erasuresOf(5);
    // The first read sees size 4; the next ones a server at size 2, which refuses consistentWith 4.
    answer = (size, from, consistentWith) =>
      reads === 1
        ? honestPage(log, 4, from, 10)
        : consistentWith !== null && consistentWith > 2
          ? refusal(2)
          : honestPage(log, 2, 0, 10);
    const { listing, findings } = await list([1, 4], 300);
    expect(findings).toEqual([]);
    expect([...listing!.listed].sort()).toEqual([0, 1, 2, 3]);
    expect(listing!.treeSize).toBe(4);
    expect(asked.slice(0, 2)).toEqual([null, 4]);
  });
});

/** An erasures log of `n` records that agrees with erasuresOf(n) on its first `forkAt` records, then differs. */
const forkOf = (n: number, forkAt: number): TestLog =>
  erasuresLog(Array.from({ length: n }, (_, i) => [['shop', i, i < forkAt ? HASH : 'fe'.repeat(32)]]));

describe("the erasures log's checkpoint against the one the auditor trusts", () => {
  it('is accepted when the proof its page carries shows that it extends the trusted one, asked for once', async () => {
    const log = erasuresOf(5);
    answer = (size, from, consistentWith) => honestPage(log, size ?? 5, from, 2, consistentWith);
    const { listing, findings } = await list([0, 4], 0, { trusted: trustedAt(log, 3) });
    expect(findings).toEqual([]);
    expect([...listing!.listed].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(listing!.checkpoint).toEqual({ treeSize: 5, rootHash: toHex(log.root(5)), note: expect.stringContaining('\n5\n') });
    // The first read asks for the proof; the reads that go on within its checkpoint do not.
    expect(asked).toEqual([3, null, null]);
  });

  it('a forked erasures log signed by the right key, whose proof does not verify from the trusted checkpoint, proves nothing', async () => {
    const trusted = erasuresOf(5);
    // The same key signs another history from position 2 on, with a proof that holds within that history.
    const fork = forkOf(5, 2);
    answer = (size, from, consistentWith) => honestPage(fork, size ?? 5, from, 10, consistentWith);
    const { listing, findings } = await list([4], 0, { trusted: trustedAt(trusted, 3) });
    expect(listing).toBeNull();
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'BAD_CONSISTENCY_PROOF',
        seq: 4,
        message: expect.stringMatching(
          /^the erasures log \(test\.chainlog\/_erasures\): the new checkpoint \(size 5\) does not extend the trusted one \(size 3\)/,
        ),
      }),
    ]);
  });

  it('a proof that is altered, malformed or missing, a fork at the trusted size and a smaller checkpoint are each a finding', async () => {
    const log = erasuresOf(5);
    const proof = log.consistency(3, 5);
    const cases: Array<[string, Partial<ReturnType<typeof honestPage>>, ReturnType<typeof trustedAt>, string]> = [
      ['altered', { consistencyProof: [proof[0]!, HASH, ...proof.slice(2)] }, trustedAt(log, 3), 'BAD_CONSISTENCY_PROOF'],
      ['one hash short', { consistencyProof: proof.slice(1) }, trustedAt(log, 3), 'BAD_CONSISTENCY_PROOF'],
      ['malformed', { consistencyProof: proof.map((h) => h.toUpperCase()) }, trustedAt(log, 3), 'MALFORMED_RESPONSE'],
      ['missing', { consistencyProof: null }, trustedAt(log, 3), 'PROOF_UNAVAILABLE'],
      ['another root at the trusted size', {}, trustedAt(forkOf(5, 2), 5), 'FORK'],
      ['smaller than trusted', {}, trustedAt(erasuresOf(7), 7), 'ROLLBACK'],
    ];
    for (const [what, change, trusted, kind] of cases) {
      answer = (size, from, consistentWith) => ({
        ...honestPage(log, size ?? 5, from, 10, consistentWith !== null && consistentWith <= 5 ? consistentWith : null),
        ...change,
      });
      const { listing, findings } = await list([4], 0, { trusted });
      expect({ what, listing, kinds: findings.map((f) => f.kind) }).toEqual({ what, listing: null, kinds: [kind] });
      expect(findings[0]!.message).toMatch(/^the erasures log \(test\.chainlog\/_erasures\): /);
    }
  });

  it('a server whose checkpoint is smaller than the trusted one refuses the proof: a ROLLBACK of the erasures log, naming both sizes', async () => {
    const log = erasuresOf(5);
    answer = (size, from, consistentWith) =>
      consistentWith !== null && consistentWith > 5 ? refusal(5) : honestPage(log, size ?? 5, from, 10, consistentWith);
    const { listing, findings } = await list([4], 0, { trusted: trustedAt(erasuresOf(7), 7) });
    expect(listing).toBeNull();
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'ROLLBACK',
        seq: 4,
        message: expect.stringMatching(
          /^the erasures log \(test\.chainlog\/_erasures\): the server's checkpoint is smaller than the one of size 7 trusted before \(it refuses the consistency proof from that size: consistentWith must be at most the checkpoint's size 5: /,
        ),
      }),
    ]);
    expect(asked).toEqual([7]);
  });

  it('each newer checkpoint read while the audit waits for a record must extend the one read before it', async () => {
    const log = erasuresOf(5);
    const fork = forkOf(6, 2);
    // The first read sees size 4 of the log; the next ones a size 6 of another history from position 2 on.
    answer = (size, from, consistentWith) =>
      reads === 1 ? honestPage(log, 4, from, 10, consistentWith) : honestPage(fork, size ?? 6, from, 10, consistentWith);
    const { listing, findings } = await list([5], 60_000);
    expect(listing).toBeNull();
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'BAD_CONSISTENCY_PROOF',
        message: expect.stringMatching(/size 6\) does not extend the trusted one \(size 4\)/),
      }),
    ]);
    expect(asked).toEqual([null, 4]);
  });

  it('one of the size read before with another root, signed by the trusted key, is a FORK of the erasures log', async () => {
    const log = erasuresOf(4);
    const fork = forkOf(4, 2);
    // The first read sees size 4 of the log; the next ones size 4 of another history from position 2 on.
    answer = (size, from, consistentWith) =>
      reads === 1 ? honestPage(log, 4, from, 10, consistentWith) : honestPage(fork, size ?? 4, from, 10, consistentWith);
    const { listing, findings } = await list([5], 5_000);
    expect(listing).toBeNull();
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'FORK',
        seq: 5,
        message: `the erasures log (test.chainlog/_erasures): two signed roots for size 4: trusted ${toHex(log.root(4))}, new ${toHex(fork.root(4))}`,
      }),
    ]);
    expect(asked).toEqual([null, 4]);
  });

  it('and extends it when honest: the listing keeps the newest, proven from the one before', async () => {
    const log = erasuresOf(6);
    answer = (size, from, consistentWith) => honestPage(log, reads === 1 ? 4 : (size ?? 6), from, 10, consistentWith);
    const { listing, findings } = await list([5], 60_000, { trusted: trustedAt(log, 2) });
    expect(findings).toEqual([]);
    expect(listing!.checkpoint).toMatchObject({ treeSize: 6, rootHash: toHex(log.root(6)) });
    expect(asked).toEqual([2, 4]);
  });
});

describe("--policy and the erasures log's checkpoint", () => {
  const witness = createCosigner('w.example', generateKeyPairSync('ed25519').privateKey);
  const policy = parsePolicy(`witness w ${witness.verifierKey}\nquorum w\n`);
  const cosigned = (page: ReturnType<typeof honestPage>) => {
    const note = page.checkpoint.note;
    return {
      ...page,
      checkpoint: { ...page.checkpoint, note: note + witness.cosign(note.slice(0, note.indexOf('\n\n') + 1), 1_800_000_000) },
    };
  };
  /** The witness's cosignature with its timestamp moved on: the signature no longer verifies. */
  const forged = (page: ReturnType<typeof honestPage>) => {
    const note = page.checkpoint.note;
    const line = witness.cosign(note.slice(0, note.indexOf('\n\n') + 1), 1_800_000_000);
    const sig = line.lastIndexOf(' ') + 1;
    const blob = Buffer.from(line.slice(sig, -1), 'base64');
    blob.writeBigUInt64BE(1_800_000_060n, 4);
    return { ...page, checkpoint: { ...page.checkpoint, note: `${note}${line.slice(0, sig)}${blob.toString('base64')}\n` } };
  };

  it("must carry the policy's quorum, as the audited log's checkpoint must", async () => {
    const log = erasuresOf(5);
    answer = (size, from) => cosigned(honestPage(log, size ?? 5, from, 10));
    expect((await list([4], 0, { policy })).findings).toEqual([]);
    // Never cosigned: its witnesses have the wait, then the records are proven against it and the audit fails.
    answer = (size, from) => honestPage(log, size ?? 5, from, 10);
    let waitedAt: number | null | undefined;
    const { listing, findings } = await list([4], 300, { policy, onWaitingForRecords: (size) => (waitedAt = size) });
    expect(waitedAt).toBeNull();
    expect(reads).toBeGreaterThan(1);
    expect(listing!.listed.has(4)).toBe(true);
    expect(listing!.checkpoint?.treeSize).toBe(5);
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'NO_QUORUM',
        seq: 4,
        message: `the erasures log's checkpoint (test.chainlog/_erasures) of size 5 is cosigned by no policy witness; the policy's quorum "w" needs w`,
      }),
    ]);
  });

  it('the first checkpoint read, not cosigned yet, is awaited like a later one and read once its witnesses cosign it', async () => {
    const log = erasuresOf(5);
    // A checkpoint just published: its witnesses cosign it once the audit waits.
    let witnessed = false;
    answer = (size, from, consistentWith) => {
      const page = honestPage(log, size ?? 5, from, 10, consistentWith);
      return witnessed ? cosigned(page) : page;
    };
    let waitedAt: number | null | undefined;
    const { listing, findings } = await list([4], 60_000, {
      policy,
      onWaitingForRecords: (size) => {
        waitedAt = size;
        witnessed = true;
      },
    });
    expect(waitedAt).toBeNull();
    expect(findings).toEqual([]);
    expect(listing!.listed.has(4)).toBe(true);
    expect(listing!.checkpoint).toMatchObject({ treeSize: 5, note: expect.stringContaining('— w.example ') });
  });

  it('a forged cosignature is not waited on, on the first checkpoint read either', async () => {
    const log = erasuresOf(5);
    answer = (size, from) => forged(honestPage(log, size ?? 5, from, 10));
    const { listing, findings } = await list([4], 60_000, { policy });
    expect(listing!.listed.has(4)).toBe(true);
    expect(findings).toEqual([expect.objectContaining({ kind: 'BAD_COSIGNATURE', seq: 4 })]);
    expect(reads).toBe(1);
  });

  it('one awaiting its quorum binds the erasures log too: another root at its size, cosigned, is a FORK', async () => {
    const log = erasuresOf(5);
    const fork = forkOf(5, 2);
    answer = (size, from, consistentWith) =>
      reads === 1
        ? honestPage(log, 5, from, 10, consistentWith)
        : cosigned(honestPage(fork, size ?? 5, from, 10, consistentWith));
    const { listing, findings } = await list([4], 5_000, { policy });
    expect(listing).toBeNull();
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'FORK',
        message: `the erasures log (test.chainlog/_erasures): two signed roots for size 5: trusted ${toHex(log.root(5))}, new ${toHex(fork.root(5))}`,
      }),
    ]);
  });

  it('a newer checkpoint found while waiting is read once its witnesses cosigned it, within the wait', async () => {
    const log = erasuresOf(6);
    // Size 4, cosigned; then size 6, not cosigned yet for two reads; then cosigned.
    answer = (size, from, consistentWith) => {
      if (reads === 1) return cosigned(honestPage(log, 4, from, 10, consistentWith));
      const page = honestPage(log, size ?? 6, from, 10, consistentWith);
      return reads <= 3 ? page : cosigned(page);
    };
    const { listing, findings } = await list([5], 60_000, { policy });
    expect(findings).toEqual([]);
    expect(listing!.checkpoint?.treeSize).toBe(6);
    expect(reads).toBe(4);
  });

  it('one never cosigned within the wait is a finding, and its records are not read', async () => {
    const log = erasuresOf(6);
    answer = (size, from, consistentWith) =>
      reads === 1 ? cosigned(honestPage(log, 4, from, 10, consistentWith)) : honestPage(log, size ?? 6, from, 10, consistentWith);
    const { listing, findings } = await list([5], 300, { policy });
    expect(listing!.treeSize).toBe(4);
    expect(listing!.listed.has(5)).toBe(false);
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'NO_QUORUM',
        message: expect.stringMatching(/of size 6 is cosigned by no policy witness/),
      }),
    ]);
  });
});
