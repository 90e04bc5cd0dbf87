// The body-checking thread's entry point (started by bodyCheckThread, body-check-thread.ts): checks each
// body it is sent (checkBodyBytes) and sends the bytes back with the verdict, so the event loop can parse
// an accepted body without copying it again.
import { parentPort, workerData } from 'node:worker_threads';
import type { GraphQLSchema } from 'graphql';
import { loadTypeDefs } from './graphql/type-defs.js';
import { checkBodyBytes, typesOnlySchema, type BodyJob, type BodyVerdict } from './validation/body-check.js';

/** What bodyCheckThread passes as workerData. */
export interface BodyCheckThreadData {
  /** Where the schema's SDL is (schema/*.graphql); the default is the service's own. */
  schemaDir?: string;
}

export interface BodyCheckRequest {
  id: number;
  job: BodyJob;
  bytes: ArrayBuffer;
  length: number;
}

export type BodyCheckResponse =
  { id: number; bytes: ArrayBuffer; verdict: BodyVerdict } | { id: number; bytes: ArrayBuffer; failure: string };

const port = parentPort;
if (!port) throw new Error('body-check-worker is the entry point of a worker thread (bodyCheckThread), not a module to import');
const { schemaDir } = (workerData ?? {}) as BodyCheckThreadData;
// Built once, when the first GraphQL body comes; a schema that cannot be built fails that check (and
// the next ones), answered as the thread's failure.
let schema: GraphQLSchema | undefined;
const types = () => (schema ??= typesOnlySchema(loadTypeDefs(schemaDir)));

port.on('message', ({ id, job, bytes, length }: BodyCheckRequest) => {
  let response: BodyCheckResponse;
  try {
    response = { id, bytes, verdict: checkBodyBytes(new Uint8Array(bytes, 0, length), job, types) };
  } catch (err) {
    response = { id, bytes, failure: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(response, [bytes]);
});
