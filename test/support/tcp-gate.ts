// A TCP proxy that holds requests on cue: while a hold is armed, a connection whose client bytes
// contain the hold's marker stops there (that chunk and everything after it on that connection wait
// in the proxy, nothing is lost), until the test releases it. The other connections pass freely. Used
// to pause one HTTP request on its way to a real process (the test moves a lease meanwhile), or one
// database command on its way to a real database server (a holder whose writes are slow), with real
// clients and servers on either side.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpGate {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /**
   * Hold every connection whose client bytes contain `marker` from that chunk on, until `release`;
   * `held` counts the connections held.
   */
  hold(marker: Buffer | string): { readonly held: number; release(): void };
  close(): Promise<void>;
}

interface Conn {
  upstream: Socket;
  /** Chunks waiting for a release, in order; null while the connection flows. */
  waiting: Buffer[] | null;
}

export async function startTcpGate(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpGate> {
  const sockets = new Set<Socket>();
  const conns = new Set<Conn>();
  let armed: { marker: Buffer; held: number } | null = null;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const conn: Conn = { upstream, waiting: null };
    conns.add(conn);
    sockets.add(client).add(upstream);
    const drop = () => {
      conns.delete(conn);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      if (conn.waiting) return void conn.waiting.push(chunk);
      if (armed && chunk.includes(armed.marker)) {
        armed.held++;
        conn.waiting = [chunk];
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    hold(marker) {
      const state = { marker: Buffer.isBuffer(marker) ? marker : Buffer.from(marker, 'latin1'), held: 0 };
      armed = state;
      return {
        get held() {
          return state.held;
        },
        release() {
          if (armed === state) armed = null;
          for (const conn of conns) {
            const waiting = conn.waiting;
            if (!waiting) continue;
            conn.waiting = null;
            for (const chunk of waiting) conn.upstream.write(chunk);
          }
        },
      };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
