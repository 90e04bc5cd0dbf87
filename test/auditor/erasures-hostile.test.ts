// listErasures against a hostile or lagging server: a real HTTP server that answers erasureRecords with
// pages built from an erasures log made with the core alone, shaped by each test (a `next` that does not
// move forward, a withheld position outside its page, a smaller checkpoint while the audit waits).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERASURES_LOG } from '../../src/auditor/erasure-records.js';
import { listErasures } from '../../src/auditor/erasures.js';
import type { Finding } from '../../src/auditor/findings.js';
import { GraphqlClient } from '../../src/auditor/graphql-client.js';
import { toHex } from '../../src/core/index.js';
import { erasuresLog, signingKey, type TestLog } from './log-fixture.js';

const PREFIX = 'test.chainlog';
const HASH = 'ef'.repeat(32);
const key = signingKey(PREFIX);

/** An erasures log of `n` records, record i listing `shop`'s position i. */
const erasuresOf = (n: number): TestLog => erasuresLog(Array.from({ length: n }, (_, i) => [['shop', i, HASH]]));

/** An honest page of `log` at `size`: records in [from, from + per), next as the server gives it. */
function honestPage(log: TestLog, size: number, from: number, per = 2) {
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
  };
}

let server: Server;
let url: string;
/** What the server answers to erasureRecords(treeSize, from); each test sets it. */
let answer: (size: number | null, from: number) => ReturnType<typeof honestPage>;
let reads = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { query, variables } = JSON.parse(Buffer.concat(chunks).toString()) as {
        query: string;
        variables: { size?: number | null; from?: number };
      };
      let data: unknown;
      if (query.includes('checkpointIntervalMs')) data = { serverInfo: { checkpointIntervalMs: 100 } };
      else {
        reads++;
        data = { erasureRecords: answer(variables.size ?? null, variables.from ?? 0) };
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function list(erased: number[], lateRecordWaitMs = 0) {
  const findings: Finding[] = [];
  reads = 0;
  const run = listErasures({
    client: new GraphqlClient({ url }),
    app: 'shop',
    originPrefix: PREFIX,
    verifier: key.verifier,
    erased,
    findings,
    lateRecordWaitMs,
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
});
