// batchedSend on real sockets: a tick's frames leave in one write, a sender waits only over the bound;
// serveGraphqlWs drops clients that stop reading, by the keep-alive or after flushTimeoutMs without progress.
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, connect as connectTcp, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { buildSchema } from 'graphql';
import { makeServer } from 'graphql-ws';
import { batchedSend, kernelTaken, serveGraphqlWs, type WsExtra } from '../../../src/api/subscriptions/ws-transport.js';
import { until } from '../../support/wait.js';

let http: Server | undefined;
let wss: WebSocketServer | undefined;
const clients: WebSocket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  http = wss = undefined;
});

/** A graphql-ws client of `url`, acknowledged (connection_ack received); terminated after the test. */
async function openGraphqlWs(url: string): Promise<WebSocket> {
  const c = new WebSocket(url, 'graphql-transport-ws');
  clients.push(c);
  await new Promise((resolve) => c.once('open', resolve));
  c.send(JSON.stringify({ type: 'connection_init' }));
  await new Promise((resolve) => c.once('message', resolve));
  return c;
}

interface Connected {
  server: WebSocket;
  tcp: Socket;
  client: WebSocket;
  /** What the client has received, as text. */
  received: string[];
  /** Write calls the server's TCP socket has made (each one a syscall): [chunks per call]. */
  writes: number[];
}

async function connect(): Promise<Connected> {
  http = createServer();
  wss = new WebSocketServer({ server: http });
  await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<{ server: WebSocket; tcp: Socket }>((resolve) =>
    wss!.once('connection', (server, req) => resolve({ server, tcp: req.socket })),
  );
  const client = new WebSocket(`ws://127.0.0.1:${(http.address() as AddressInfo).port}`);
  clients.push(client);
  const received: string[] = [];
  client.on('message', (data) => received.push((data as Buffer).toString())); // a Buffer: ws's default binaryType
  await new Promise((resolve) => client.once('open', resolve));
  const { server, tcp } = await accepted;
  // Count the stream's own write paths on the real socket: _writev for a batch, _write for one chunk.
  const writes: number[] = [];
  const stream = tcp as unknown as { _write: (...a: unknown[]) => void; _writev: (chunks: unknown[], cb: unknown) => void };
  const write = stream._write.bind(tcp);
  const writev = stream._writev.bind(tcp);
  stream._write = (...a: unknown[]) => (writes.push(1), write(...a));
  stream._writev = (chunks: unknown[], cb: unknown) => (writes.push(chunks.length), writev(chunks, cb));
  return { server, tcp, client, received, writes };
}

describe('batchedSend', () => {
  it('sends the frames of one tick in one write, in order, without making the sender wait', async () => {
    const c = await connect();
    const send = batchedSend(c.server, c.tcp, 1024 * 1024);
    const results = Array.from({ length: 50 }, (_, i) => send(`message ${i}`));
    expect(results.every((r) => r === undefined)).toBe(true);
    await until('50 messages', () => c.received.length === 50, { intervalMs: 5 });
    expect(c.received).toEqual(Array.from({ length: 50 }, (_, i) => `message ${i}`));
    expect(c.writes).toHaveLength(1);
    // Next tick, next batch.
    void send('a'); // under the bound: nothing to wait for
    void send('b');
    await until('52 messages', () => c.received.length === 52, { intervalMs: 5 });
    expect(c.writes).toHaveLength(2);
  });

  it('makes the sender wait once the socket holds more than the bound, until that frame is written', async () => {
    const c = await connect();
    const send = batchedSend(c.server, c.tcp, 10_000);
    const big = 'x'.repeat(4_000);
    expect(send(big)).toBeUndefined();
    expect(send(big)).toBeUndefined();
    expect(send(big)).toBeUndefined();
    const waited = send(big);
    expect(waited).toBeInstanceOf(Promise);
    await waited;
    expect(c.server.bufferedAmount).toBe(0);
    await until('4 messages', () => c.received.length === 4, { intervalMs: 5 });
  });

  it('counts the bytes the kernel takes while one write is still under way', async () => {
    const tcpServer = createTcpServer();
    await new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<Socket>((resolve) => tcpServer.once('connection', resolve));
    const writer = connectTcp((tcpServer.address() as AddressInfo).port, '127.0.0.1');
    const reader = await accepted;
    await new Promise((resolve) => (writer.connecting ? writer.once('connect', resolve) : resolve(undefined)));
    try {
      reader.pause();
      // One write of 32 MB, more than the kernel's buffers hold: it is under way until the reader reads.
      writer.write(Buffer.alloc(32 * 1024 * 1024));
      const before = kernelTaken(writer);
      expect(before).toBeGreaterThan(0);
      // Reads 8 MB: the kernel makes room for the writer (in steps, each about a third of its send buffer).
      let read = 0;
      reader.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read >= 8 * 1024 * 1024) reader.pause();
      });
      reader.resume();
      await until('the kernel to take more', () => kernelTaken(writer) > before, { intervalMs: 5 });
      expect(writer.writableLength).toBe(32 * 1024 * 1024);
    } finally {
      writer.destroy();
      reader.destroy();
      await new Promise((resolve) => tcpServer.close(resolve));
    }
  });

  it('drops what is sent after the socket closed', async () => {
    const c = await connect();
    const send = batchedSend(c.server, c.tcp, 1024);
    c.server.close();
    await new Promise((r) => c.server.once('close', r));
    expect(send('late')).toBeUndefined();
  });
});

/** A schema whose `big` subscription sends 40 frames of 1 MB: more than the kernel's buffers of a client that does not read. */
function bigFrames() {
  const big = 'x'.repeat(1024 * 1024);
  return makeServer<Record<string, unknown> | undefined, WsExtra>({
    schema: buildSchema('type Query { ok: Boolean } type Subscription { big: String }'),
    roots: {
      subscription: {
        big: async function* () {
          for (let i = 0; i < 40; i++) {
            await new Promise((resolve) => setImmediate(resolve));
            yield { big };
          }
        },
      },
    },
  });
}

describe('serveGraphqlWs keep-alive', () => {
  it('drops a client that stops answering pings and keeps one that answers', async () => {
    http = createServer();
    wss = new WebSocketServer({ server: http });
    const server = makeServer<Record<string, unknown> | undefined, WsExtra>({
      schema: buildSchema('type Query { ok: Boolean }'),
    });
    serveGraphqlWs(server, wss, {
      isProd: true,
      keepAliveMs: 200,
      maxBufferedBytes: 1024 * 1024,
      onInternalError: () => undefined,
    });
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const silent = await openGraphqlWs(url);
    const answering = await openGraphqlWs(url);
    let answeringClosed = false;
    answering.once('close', () => (answeringClosed = true));
    expect(wss.clients.size).toBe(2);
    silent.pause(); // stops reading: its pongs never go out (nor does it see the close)
    await until('the silent client dropped', () => wss!.clients.size === 1, { timeoutMs: 3_000, intervalMs: 5 });
    // Two more rounds of pings, each answered: the answering client is kept.
    for (let round = 0; round < 2; round++) await new Promise((resolve) => answering.once('ping', resolve));
    expect(answeringClosed).toBe(false);
    expect(answering.readyState).toBe(WebSocket.OPEN);
    expect(wss.clients.size).toBe(1);
  });

  it('counts a client dropped with frames unsent as unsent and one that took everything as pong, each once', async () => {
    http = createServer();
    wss = new WebSocketServer({ server: http });
    const server = bigFrames();
    const dropped: string[] = [];
    serveGraphqlWs(server, wss, {
      isProd: true,
      keepAliveMs: 500,
      maxBufferedBytes: 256 * 1024,
      onInternalError: () => undefined,
      onDropped: (reason) => dropped.push(reason),
    });
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const serverClosed: Array<Promise<unknown>> = [];
    wss.on('connection', (socket) => serverClosed.push(new Promise((resolve) => socket.once('close', resolve))));
    // Subscribed to big frames, and stops reading them.
    const stalled = await openGraphqlWs(url);
    stalled.pause();
    stalled.send(JSON.stringify({ id: 'b', type: 'subscribe', payload: { query: 'subscription { big }' } }));
    // Takes everything it is sent (nothing), but stops reading: its pong never goes out.
    const silent = await openGraphqlWs(url);
    silent.pause();
    await until('both clients dropped', () => wss!.clients.size === 0, { timeoutMs: 5_000, intervalMs: 5 });
    await Promise.all(serverClosed);
    expect(dropped.sort()).toEqual(['pong', 'unsent']);
  });
});

describe('serveGraphqlWs flushTimeoutMs', () => {
  /** bigFrames served with the keep-alive off and a 300 ms flush bound; what it drops, by reason. */
  async function serveBig(maxBufferedBytes: number): Promise<{ url: string; dropped: string[] }> {
    http = createServer();
    wss = new WebSocketServer({ server: http });
    const dropped: string[] = [];
    serveGraphqlWs(bigFrames(), wss, {
      isProd: true,
      keepAliveMs: 0,
      maxBufferedBytes,
      flushTimeoutMs: 300,
      onInternalError: () => undefined,
      onDropped: (reason) => dropped.push(reason),
    });
    await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
    return { url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`, dropped };
  }

  /** A client of `url` that subscribes to `big` and reads nothing; resolves once the server closed its socket. */
  async function stallOn(url: string, id: string): Promise<void> {
    const closed = new Promise((resolve) => wss!.once('connection', (socket) => socket.once('close', resolve)));
    const stalled = await openGraphqlWs(url);
    stalled.pause();
    stalled.send(JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { big }' } }));
    await closed;
  }

  it('with the keep-alive off, drops a client whose sender has waited that long without progress, as unsent', async () => {
    const { url, dropped } = await serveBig(256 * 1024);
    await stallOn(url, 'b');
    expect(dropped).toEqual(['unsent']);
    expect(wss!.clients.size).toBe(0);
  });

  it('with the keep-alive off, drops a client that stopped reading with less than the bound queued and nothing more to send', async () => {
    // A bound no sender reaches: the 40 MiB the subscription sends are all queued without a wait, most of
    // them in user space once the kernel's buffers are full, and then nothing more is sent.
    const { url, dropped } = await serveBig(1024 * 1024 * 1024);
    await stallOn(url, 'b');
    expect(dropped).toEqual(['unsent']);
    expect(wss!.clients.size).toBe(0);
  });

  it('keeps a client that took every frame: its socket is watched only while bytes wait for it', async () => {
    const { url, dropped } = await serveBig(1024 * 1024 * 1024);
    // 40 MiB, more than the kernel's buffers hold: the reader pauses until some of it waits in user space
    // (watched), then reads it all.
    const accepted = new Promise<WebSocket>((resolve) => wss!.once('connection', resolve));
    const reader = await openGraphqlWs(url);
    const serverSide = await accepted;
    const completed = new Promise<number>((resolve) => {
      let frames = 0;
      reader.on('message', (data) => {
        const type = (JSON.parse((data as Buffer).toString()) as { type: string }).type;
        if (type === 'next') frames++;
        if (type === 'complete') resolve(frames);
      });
    });
    reader.pause();
    reader.send(JSON.stringify({ id: 'r', type: 'subscribe', payload: { query: 'subscription { big }' } }));
    await until('bytes wait in user space for the reader', () => serverSide.bufferedAmount > 0);
    reader.resume();
    expect(await completed).toBe(40);
    // Two clients that stop reading, one after the other, each dropped after the bound: more than a bound
    // passes with the reader idle, and a watch left on its socket would have dropped it first.
    await stallOn(url, 's1');
    await stallOn(url, 's2');
    expect(dropped).toEqual(['unsent', 'unsent']);
    expect(reader.readyState).toBe(WebSocket.OPEN);
    expect(wss!.clients.size).toBe(1);
  });
});
