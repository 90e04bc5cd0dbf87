// Two chainlog processes sharing one MongoDB database (FerretDB here) with one witness policy: only the
// process that publishes (the publisher lease holder) submits checkpoints to the witness, and both
// serve the cosigned note it stored.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../src/log/signing-key.js';
import { HostileWitness } from '../support/hostile-witness.js';
import { metric } from '../support/metrics.js';
import { freshDbName, startMongoTestServer } from '../support/mongo-test-server.js';
import { startService, type RunningService } from '../support/service.js';
import { until } from '../support/wait.js';

let mongo: Awaited<ReturnType<typeof startMongoTestServer>>;
let dir: string;
const services: RunningService[] = [];
const witness = new HostileWitness('witness.test/lease');

beforeAll(async () => {
  mongo = await startMongoTestServer();
  await witness.start();
  dir = mkdtempSync(join(tmpdir(), 'chainlog-witnessing-lease-'));
  const policyFile = join(dir, 'policy');
  writeFileSync(policyFile, `witness w ${witness.vkey} ${witness.url}\nquorum w\n`);
  const env = {
    MONGODB_URI: mongo.uri,
    MONGODB_DB: freshDbName(),
    SIGNING_KEY_FILE: loadSigningKey({ dataDir: dir }).source,
    WITNESS_POLICY_FILE: policyFile,
    WITNESS_SUBMIT_MAX_BACKOFF_MS: '200',
  };
  for (let i = 0; i < 2; i++) services.push(await startService({ env }));
}, 180_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await witness.stop();
  await mongo?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('witnessing with processes sharing a database', () => {
  it('submits from the publishing process only, and every process serves the cosigned note', async () => {
    const inputs = Array.from({ length: 3 }, (_, i) => ({
      sourceAppId: 'shared',
      eventType: 'tick',
      timestamp: new Date(Date.UTC(2025, 4, 1) + i).toISOString(),
      payload: { i },
    }));
    await services[1]!.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { id } }', { in: inputs });
    for (const svc of services) {
      await until('the checkpoint witnessed, as each process reads it', async () => {
        const cp = (await svc.gql('{ checkpoint(sourceAppId: "shared") { treeSize witnessed } }')).data?.checkpoint;
        return cp?.treeSize === 3 && cp.witnessed;
      });
    }
    const submitted = await Promise.all(
      services.map((svc) => metric(svc, 'chainlog_witness_submissions_total', { witness: 'w', outcome: 'cosigned' })),
    );
    expect(submitted.filter((n) => n > 0)).toHaveLength(1);
    expect(witness.requests.filter((r) => r.note.startsWith('chainlog.local/shared\n3\n')).length).toBe(Math.max(...submitted));
  });
});
