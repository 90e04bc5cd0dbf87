// A body-checking thread that fails on demand (test/api/body-check.test.ts), speaking body-check-worker's
// protocol: the body `exit` ends the thread, `throw` throws out of it, anything else is accepted.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', ({ id, bytes, length }) => {
  const text = new TextDecoder().decode(new Uint8Array(bytes, 0, length));
  if (text === 'exit') process.exit(3);
  if (text === 'throw') throw new Error('a failure in the body-checking thread');
  parentPort.postMessage({ id, bytes, verdict: { ok: true } }, [bytes]);
});
