// chainlog's witness driven by third-party code: a Go client (test/interop/witness) submits a real
// chainlog log's checkpoints to POST /witness/add-checkpoint over HTTP and verifies the cosignatures
// with github.com/transparency-dev/formats (cosignature/v1) and golang.org/x/mod/sumdb/note; and
// filippo.io/torchwood's CosignatureSigner cosigns the same body with the same key, which must give
// chainlog's vkey and cosignature byte for byte. The Go program is built once into a temp dir.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toBase64, verifierKeyString } from '../../src/core/index.js';
import { createCosigner } from '../../src/core/witness/index.js';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { privateKeyFromSeed } from '../core/note-keys.js';
import { startService, type RunningService } from '../support/service.js';

const goAvailable = spawnSync('go', ['version'], { encoding: 'utf8' }).status === 0;
if (!goAvailable) {
  console.warn(
    '\n\n*** WITNESS INTEROP TESTS SKIPPED: `go` is not on PATH; the witness is NOT being checked against third-party Go code ***\n\n',
  );
}

const APP = 'interop-witness';
const ORIGIN = `chainlog.local/${APP}`;

interface SubmitResult {
  status: number;
  contentType: string;
  body: string;
  verified: boolean;
  verifyError?: string;
  timestampFormats?: number;
  timestampTorchwood?: number;
}
interface GoResponse {
  submissions: SubmitResult[];
  signed: { verifierKey: string; line: string; timestamp: number }[];
}

describe.skipIf(!goAvailable)('the witness with third-party Go code (transparency-dev/formats, x/mod note, torchwood)', () => {
  let dir = '';
  let bin = '';
  let svc: RunningService;
  let logKey = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainlog-witness-interop-'));
    bin = join(dir, 'witness-interop');
    const build = spawnSync('go', ['build', '-o', bin, '.'], { cwd: join(import.meta.dirname, 'witness'), encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`go build failed:\n${build.stderr}`);
    // The server witnesses its own log: its vkey under the log's origin, known before it starts.
    const key = loadSigningKey({ dataDir: dir });
    logKey = verifierKeyString(ORIGIN, key.publicKey);
    const logsFile = join(dir, 'witnessed-logs');
    writeFileSync(logsFile, `log ${logKey}\n`);
    svc = await startService({
      env: { SIGNING_KEY_FILE: key.source, WITNESSED_LOGS_FILE: logsFile, WITNESS_NAME: 'witness.interop/w1' },
    });
  });

  afterAll(async () => {
    await svc?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function runGo(request: unknown): GoResponse {
    const run = spawnSync(bin, [], { input: JSON.stringify(request), encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`witness-interop exited ${run.status}:\n${run.stderr}`);
    return JSON.parse(run.stdout) as GoResponse;
  }

  async function ingest(count: number) {
    const inputs = Array.from({ length: count }, (_, i) => ({
      sourceAppId: APP,
      eventType: 'interop.entry',
      timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(),
      payload: { i },
    }));
    const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs });
    expect(res.errors).toBeUndefined();
  }

  async function checkpointAt(size: number): Promise<string> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      await svc.gql('mutation { publishCheckpoints { treeSize } }');
      const res = await svc.gql('query($app: String!) { checkpoint(sourceAppId: $app) { treeSize note } }', { app: APP });
      if (res.data.checkpoint?.treeSize === size) return res.data.checkpoint.note as string;
      if (Date.now() > deadline) throw new Error(`no checkpoint of size ${size}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it("a Go client gets chainlog's checkpoints cosigned, and formats and x/mod verify every cosignature", async () => {
    const witnessKey = (await svc.gql('{ serverInfo { witnessVerifierKey } }')).data.serverInfo.witnessVerifierKey as string;
    expect(witnessKey).toMatch(/^witness\.interop\/w1\+[0-9a-f]{8}\+/);
    await ingest(13);
    const first = await checkpointAt(13);
    await ingest(30);
    const second = await checkpointAt(43);
    const proof = (
      await svc.gql('query($app: String!) { consistencyProof(sourceAppId: $app, fromSize: 13, toSize: 43) { hashes } }', {
        app: APP,
      })
    ).data.consistencyProof.hashes as string[];
    const b64 = proof.map((h) => toBase64(fromHex(h)));

    const out = runGo({
      witnessUrl: `${svc.url}/witness`,
      witnessKey,
      logKey,
      submissions: [
        { old: 0, proof: [], note: first },
        { old: 13, proof: b64, note: second },
        // A stale old size: the client learns the latest from the 409.
        { old: 13, proof: b64, note: second },
        // The same checkpoint again, from the latest size.
        { old: 43, proof: [], note: second },
      ],
    });
    const [a, b, c, d] = out.submissions;
    for (const ok of [a, b, d]) {
      expect(ok, JSON.stringify(ok)).toMatchObject({ status: 200, verified: true });
      expect(ok!.timestampFormats).toBe(ok!.timestampTorchwood);
      expect(Math.abs(ok!.timestampFormats! - Date.now() / 1000)).toBeLessThan(120);
    }
    expect(c).toMatchObject({ status: 409, contentType: 'text/x.tlog.size', body: '43\n' });
  });

  it("torchwood's cosigner gives chainlog's vkey and, at the same time, the same cosignature line", () => {
    const seed = Buffer.from('9f3c2a1b0e8d7c6b5a4938271605f4e3d2c1b0a99887766554433221100ffeed', 'hex');
    const body = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    const [signed] = runGo({
      witnessUrl: '',
      witnessKey: '',
      logKey: '',
      submissions: [],
      sign: [{ seedHex: seed.toString('hex'), name: 'witness.example/w1', body }],
    }).signed;
    const key = privateKeyFromSeed(seed);
    const cosigner = createCosigner('witness.example/w1', key);
    expect(cosigner.verifierKey).toBe(signed!.verifierKey);
    expect(cosigner.cosign(body, signed!.timestamp)).toBe(signed!.line);
  });
});
