// graphql-ws's protocol core (makeServer) on `ws`, as graphql-ws/use/ws does, with one difference:
// a message is not awaited until it reaches the kernel. Waiting per message made every delivery its own
// write syscall (half the server's time with 100 subscribers). Here the frames a socket gets within one
// tick leave in one write, and a sender waits only while its socket holds more than `maxBufferedBytes`
// unsent, so a slow reader backs up into its subscription's bounded buffer, not into memory.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { CloseCode, handleProtocols, type Server } from 'graphql-ws';
import type { RawData, WebSocket, WebSocketServer } from 'ws';

/** What graphql-ws's Context.extra holds for a connection: graphql-ws/use/ws's, plus its batched send. */
export interface WsExtra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
  /** Writes a protocol message in order with graphql-ws's own; a promise while the socket is over its bound. */
  readonly send: (data: string) => Promise<void> | undefined;
}

export interface WsTransportOptions {
  isProd: boolean;
  /** Ping interval; a client that does not answer within it is dropped. 0 disables. */
  keepAliveMs: number;
  /** Unsent bytes a socket may hold before its senders wait for the kernel to take them. */
  maxBufferedBytes: number;
  onInternalError(err: unknown, where: string): void;
  /**
   * A socket dropped because its client stopped reading; once per socket. `unsent`: it was closed with frames
   * still unsent (the keep-alive dropped it while it held some, or it closed while a sender waited on it);
   * `pong`: the keep-alive dropped it with nothing unsent (it took every frame, its ping too, and did not answer).
   */
  onDropped?(reason: 'pong' | 'unsent'): void;
  /** A message over ws's maxPayload: ws closes the socket with 1009 itself. */
  onOversized?(err: Error): void;
  /**
   * A frame that breaks the WebSocket protocol (ws closes the socket with 1002 or 1007 itself), or a
   * binary message that is not UTF-8 (closed here with 1007, as ws closes a text message that is not):
   * the client's doing, not an internal error.
   */
  onMalformed?(reason: string): void;
  /** A message refused before graphql-ws parses it: an operation gets this error, anything else closes with 4400. */
  refuseMessage?(text: string): { message: string; extensions: Record<string, unknown> } | undefined;
}

/** RFC 6455 §7.4.1: a message whose data is not consistent with its type (a text that is not UTF-8). */
const INVALID_PAYLOAD_DATA = 1007;

export function serveGraphqlWs(
  server: Server<WsExtra>,
  wss: WebSocketServer,
  opts: WsTransportOptions,
): { dispose(): Promise<void> } {
  // A close reason must fit in a control frame (123 bytes).
  const internalClose = (err: unknown) => {
    const reason = err instanceof Error ? err.message : String(err);
    return opts.isProd || Buffer.byteLength(reason) > 123 ? 'Internal server error' : reason;
  };
  wss.options.handleProtocols = handleProtocols;

  wss.on('connection', (socket, request) => {
    socket.once('error', (err) => {
      const code = (err as { code?: string }).code;
      if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        opts.onOversized?.(err);
        return;
      }
      // ws's receiver raises these (WS_ERR_INVALID_UTF8, WS_ERR_INVALID_OPCODE, ...) for what the client sent.
      if (code?.startsWith('WS_ERR_')) {
        opts.onMalformed?.(code);
        return;
      }
      opts.onInternalError(err, 'socket');
      socket.close(CloseCode.InternalServerError, internalClose(err));
    });
    let dropped = false;
    const drop = (reason: 'pong' | 'unsent') => {
      if (dropped) return;
      dropped = true;
      opts.onDropped?.(reason);
    };
    // A client that does not read what it is sent does not read the ping behind it either: it is dropped
    // by the keep-alive, and counted by what it left unsent.
    const keepAlive =
      opts.keepAliveMs > 0
        ? startKeepAlive(socket, opts.keepAliveMs, () => drop(socket.bufferedAmount > 0 ? 'unsent' : 'pong'))
        : undefined;
    const send = batchedSend(socket, request.socket, opts.maxBufferedBytes, () => drop('unsent'));
    /** A message refused before graphql-ws parses it: an operation (it has a string id) gets the error, anything else closes the socket. */
    const refuse = (text: string, refused: { message: string; extensions: Record<string, unknown> }) => {
      let id: unknown;
      try {
        id = (JSON.parse(text) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (typeof id === 'string') void send(JSON.stringify({ id, type: 'error', payload: [refused] }));
      else socket.close(CloseCode.BadRequest, refused.message.slice(0, 120));
    };
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send,
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', (data: RawData, isBinary: boolean) => {
            // After a close (a refused message), ws still emits what it had read: none of it is served.
            if (socket.readyState !== socket.OPEN) return;
            // ws has checked a text message to be UTF-8 (and closed the socket with 1007 if not); a binary
            // one would be decoded with U+FFFD in place of what was sent.
            const bytes = rawBytes(data);
            if (isBinary && !isUtf8(bytes)) {
              opts.onMalformed?.('binary message not UTF-8');
              socket.close(INVALID_PAYLOAD_DATA, 'message: must be UTF-8 (RFC 8259)');
              return;
            }
            const text = bytes.toString('utf8');
            const refused = opts.refuseMessage?.(text);
            if (refused) {
              refuse(text, refused);
              return;
            }
            // graphql-ws's handler settles with the operation's outcome; whatever escapes it closes the socket.
            cb(text).catch((err: unknown) => {
              opts.onInternalError(err, 'message');
              socket.close(CloseCode.InternalServerError, internalClose(err));
            });
          }),
      },
      { socket, request, send },
    );
    socket.once('close', (code, reason) => {
      keepAlive?.stop();
      void closed(code, String(reason));
    });
  });

  return {
    dispose: async () => {
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/**
 * A send for graphql-ws: writes now, corked until the end of the tick so that the tick's frames share
 * one write; returns a promise only when the socket is over its bound, settled once that frame is written.
 */
export function batchedSend(
  socket: WebSocket,
  tcp: Socket,
  maxBufferedBytes: number,
  onUnsent?: () => void,
): (data: string) => Promise<void> | undefined {
  let corked = false;
  const uncork = () => {
    corked = false;
    tcp.uncork();
  };
  return (data) => {
    if (socket.readyState !== socket.OPEN) return undefined;
    if (!corked) {
      corked = true;
      tcp.cork();
      process.nextTick(uncork);
    }
    if (socket.bufferedAmount < maxBufferedBytes) {
      socket.send(data);
      return undefined;
    }
    // A frame that cannot leave because the socket closed meanwhile ends the wait quietly: the client is
    // gone (it stopped reading), which is no error of the server's.
    return new Promise<void>((resolve, reject) =>
      socket.send(data, (err) => {
        if (!err) return resolve();
        if (socket.readyState !== socket.OPEN) {
          onUnsent?.();
          return resolve();
        }
        reject(err);
      }),
    );
  };
}

function startKeepAlive(socket: WebSocket, intervalMs: number, onNoPong: () => void): { stop(): void } {
  let pongWait: NodeJS.Timeout | null = null;
  const ping = setInterval(() => {
    if (socket.readyState !== socket.OPEN) return;
    pongWait = setTimeout(() => {
      onNoPong();
      socket.terminate();
    }, intervalMs);
    socket.once('pong', () => {
      if (pongWait) clearTimeout(pongWait);
      pongWait = null;
    });
    socket.ping();
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(ping);
      if (pongWait) clearTimeout(pongWait);
    },
  };
}

/** A WebSocket message's bytes, whichever form `ws` hands them over in. */
function rawBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
