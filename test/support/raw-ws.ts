// A bare graphql-transport-ws socket, to see close codes and messages exactly as the server sends them.
import WebSocket from 'ws';

export interface RawWs {
  socket: WebSocket;
  messages: Array<{ id?: string; type: string; payload?: any }>;
  closed: Promise<{ code: number; reason: string }>;
  send(message: unknown): void;
  /** Sends connection_init and resolves on connection_ack (rejects if the socket closes first). */
  init(payload?: Record<string, unknown>): Promise<void>;
  /** Resolves with the first message for `id` of one of the types. */
  next(id: string, types?: string[], timeoutMs?: number): Promise<{ id?: string; type: string; payload?: any }>;
  close(): Promise<void>;
}

export async function openRaw(httpUrl: string): Promise<RawWs> {
  const socket = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: RawWs['messages'] = [];
  const waiters: Array<() => void> = [];
  socket.on('message', (data) => {
    messages.push(JSON.parse((data as Buffer).toString())); // a Buffer: ws's default binaryType
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => {
      resolve({ code, reason: String(reason) });
      for (const w of waiters.splice(0)) w();
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const wait = async <T>(found: () => T | undefined, timeoutMs: number, what: string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = found();
      if (hit !== undefined) return hit;
      if (socket.readyState === WebSocket.CLOSED)
        throw new Error(`socket closed while waiting for ${what}: ${JSON.stringify(messages)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(messages)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return {
    socket,
    messages,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    async init(payload) {
      socket.send(JSON.stringify({ type: 'connection_init', ...(payload && { payload }) }));
      await wait(() => messages.find((m) => m.type === 'connection_ack'), 5000, 'connection_ack');
    },
    next: (id, types = ['next', 'error', 'complete'], timeoutMs = 5000) =>
      wait(() => messages.find((m) => m.id === id && types.includes(m.type)), timeoutMs, `a message for ${id}`),
    async close() {
      if (socket.readyState !== WebSocket.CLOSED) socket.close();
      await closed;
    },
  };
}
