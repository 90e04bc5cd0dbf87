// A TCP proxy in front of a real database server that loses connections on cue: while armed, each
// request whose bytes contain every one of the given markers is delivered to the server, and the
// client's connection is closed at once: the server may apply the request and answer into the void;
// the client is never told. Used to lose a connection in the middle of one command, with the real
// driver and the real server on either side.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpCutter {
  /** mongodb://127.0.0.1:<port>/ : the server's URI through the proxy. */
  uri: string;
  /**
   * Cut every connection that carries a request holding every marker (a driver retrying the request
   * on a new connection loses that one too), until `stop`; `cuts` counts them.
   */
  cutRequests(markers: readonly Buffer[]): { readonly cuts: number; stop(): void };
  close(): Promise<void>;
}

/**
 * A MongoDB command on a collection as it appears in its OP_MSG body: the string element named
 * after the command, whose value is the collection's name (`{ insert: "events" }`).
 */
export function commandMarker(command: string, collection: string): Buffer[] {
  const length = Buffer.alloc(4);
  length.writeInt32LE(Buffer.byteLength(collection) + 1);
  return [Buffer.concat([Buffer.from(`\u0002${command}\u0000`, 'latin1'), length, Buffer.from(`${collection}\u0000`, 'latin1')])];
}

export async function startTcpCutter(targetUri: string): Promise<TcpCutter> {
  const target = new URL(targetUri);
  const sockets = new Set<Socket>();
  let armed: { markers: readonly Buffer[]; cuts: number } | null = null;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    /** Set once the connection is cut: the server still gets to answer the request, to nobody. */
    let cutHere = false;
    const drop = () => {
      client.destroy();
      sockets.delete(client);
      if (cutHere && !upstream.destroyed) return; // closed when the server's reply arrives
      upstream.destroy();
      sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (armed && armed.markers.every((m) => chunk.includes(m))) {
        armed.cuts++;
        cutHere = true;
        // The request is on its way to the server; its reply will find this connection closed.
        client.destroy();
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutHere) {
        // The reply to the cut request: the write has been applied; nobody hears of it.
        upstream.destroy();
        sockets.delete(upstream);
      } else client.write(chunk);
    });
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    uri: `mongodb://127.0.0.1:${port}/`,
    cutRequests(markers) {
      const state = { markers, cuts: 0 };
      armed = state;
      return {
        get cuts() {
          return state.cuts;
        },
        stop() {
          if (armed === state) armed = null;
        },
      };
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
