// A client that goes away before its body is complete, on the lean routes (POST /v1/events,
// src/api/rest/lean-events.ts, and POST /graphql, src/api/graphql/lean-graphql.ts): the route stores nothing and acknowledges nothing, even when the bytes
// that did arrive are a whole, valid event (a Content-Length larger than what was sent), and the server
// goes on serving. (Node's HTTP parser itself may answer the truncated request with a bare
// `400 Bad Request` before it closes the connection; the route adds nothing.) The request is sent by hand over TCP with `Expect: 100-continue`: the server's
// `100 Continue` is the signal that it has taken the request, before any body byte is sent.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../support/service.js';

let svc: RunningService;
const APP = 'lean-abort';

beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => svc?.stop());

let n = 0;
const event = () =>
  JSON.stringify({
    sourceAppId: APP,
    eventType: 'lean.abort',
    timestamp: new Date(Date.UTC(2025, 0, 1) + ++n * 1000).toISOString(),
    payload: { n },
  });

/** Everything the server sends on `socket` until it closes the connection. */
function received(socket: Socket): { text: () => string; closed: Promise<void>; seen: (s: string) => Promise<void> } {
  let text = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const seen = (s: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (text.includes(s) ? resolve() : waiters.push(check));
      closed.then(
        () => reject(new Error(`the connection closed before ${JSON.stringify(s)}; received ${JSON.stringify(text)}`)),
        () => {},
      );
      check();
    });
  return { text: () => text, closed, seen };
}

/**
 * POSTs the head of a lean request declaring `declared` body bytes, waits for `100 Continue`, sends
 * `body` (fewer bytes), half-closes, and returns what the server sent after the 100 once it closed.
 */
async function abortedPost(path: string, body: string, declared: number): Promise<string> {
  const { hostname, port, host } = new URL(svc.url);
  const socket = connect(Number(port), hostname);
  const rx = received(socket);
  socket.write(
    `POST ${path} HTTP/1.1\r\n` +
      `Host: ${host}\r\n` +
      'Content-Type: application/json\r\n' +
      `Content-Length: ${declared}\r\n` +
      `x-api-key: ${svc.adminKey}\r\n` +
      'Expect: 100-continue\r\n\r\n',
  );
  await rx.seen('HTTP/1.1 100 Continue\r\n\r\n');
  const before = rx.text().length;
  socket.end(body);
  await rx.closed;
  return rx.text().slice(before);
}

async function postEvent(body: string): Promise<{ status: number; seq: number }> {
  const res = await fetch(`${svc.url}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': svc.adminKey! },
    body,
  });
  const json = (await res.json()) as { events: Array<{ seq: number }> };
  return { status: res.status, seq: json.events[0]!.seq };
}

const LOG_EVENT = 'mutation($input: LogEventInput!) { logEvent(input: $input) { seq } }';
const routes: Array<[string, (event: string) => string]> = [
  ['/v1/events', (e) => e],
  ['/graphql', (e) => `{"query":${JSON.stringify(LOG_EVENT)},"variables":{"input":${e}}}`],
];

describe.each(routes)('POST %s (lean route): a client that goes away mid-body', (path, bodyOf) => {
  it('gets no answer and stores nothing, though the bytes sent are a whole request; the next request takes the next seq', async () => {
    const first = await postEvent(event());
    expect(first.status).toBe(201);

    const whole = bodyOf(event());
    const noAnswer = /^(?:|HTTP\/1\.1 400 Bad Request\r\nConnection: close\r\n\r\n)$/;
    expect(await abortedPost(path, whole, Buffer.byteLength(whole) + 10)).toMatch(noAnswer);
    expect(await abortedPost(path, '', 64)).toMatch(noAnswer);
    expect(await abortedPost(path, whole.slice(0, 20), Buffer.byteLength(whole))).toMatch(noAnswer);

    // Appends to one log are sequenced in arrival order: had an aborted request been appended, it would
    // hold first.seq + 1.
    const next = await postEvent(event());
    expect(next).toEqual({ status: 201, seq: first.seq + 1 });
    const size = (await svc.gql(`{ log(sourceAppId: "${APP}") { size } }`)).data.log.size;
    expect(size).toBe(first.seq + 2);
  });
});
