// graphql-ws's protocol core (makeServer) on `ws`, as graphql-ws/use/ws does, with one difference:
// a message is not awaited until it reaches the kernel. Waiting per message made every delivery its own
// write syscall (half the server's time with 100 subscribers). Here the frames a socket gets within one
// tick leave in one write, and a sender waits only while its socket holds more than `maxBufferedBytes`
// unsent, so a slow reader backs up into its subscription's bounded buffer, not into memory. A socket
// holding bytes the kernel has not taken (a sender waiting or not) waits on its reader at most
// `flushTimeoutMs` without the kernel taking a byte: then it is terminated, since until its reader reads,
// the subscription (and the connection) cannot end.
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
  /**
   * How long a socket may hold bytes the kernel has not taken (over `maxBufferedBytes`, with a sender
   * waiting, or under it) while the kernel takes none of them before it is terminated (and counted by
   * `onDropped` as `unsent`), with the keep-alive on or off: whichever bound comes first drops the client.
   * It measures time without progress, not the wait:
   * a slow reader is kept while the kernel takes bytes within each bound (see kernelTaken). Default 30000
   * (the default of WS_FLUSH_TIMEOUT_MS).
   */
  flushTimeoutMs?: number;
  onInternalError(err: unknown, where: string): void;
  /**
   * A socket dropped because its client stopped reading; once per socket. `unsent`: it was closed with frames
   * still unsent (the keep-alive dropped it while it held some, `flushTimeoutMs` passed without progress while
   * it held some, or it closed while a sender waited on it);
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

/** WsTransportOptions.flushTimeoutMs when not given. */
const DEFAULT_FLUSH_TIMEOUT_MS = 30_000;

/**
 * How often a waiting socket's progress is looked at, per flush timeout: a socket is terminated once it
 * has made none for between one and 1 + 1/FLUSH_CHECKS flush timeouts.
 */
const FLUSH_CHECKS = 4;

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
    const send = batchedSend(socket, request.socket, opts.maxBufferedBytes, {
      flushTimeoutMs: opts.flushTimeoutMs ?? DEFAULT_FLUSH_TIMEOUT_MS,
      onUnsent: () => drop('unsent'),
    });
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

export interface BatchedSendOptions {
  /**
   * While the socket holds bytes the kernel has not taken (a sender waiting or not), how long the kernel
   * may take none of them before the socket is terminated (`onUnsent` is called first). Without it, a
   * sender waits as long as the socket is open.
   */
  flushTimeoutMs?: number;
  /** The socket closed with a frame that waited on it unsent, or was terminated for want of progress. */
  onUnsent?: () => void;
}

/**
 * A send for graphql-ws: writes now, corked until the end of the tick so that the tick's frames share
 * one write; returns a promise only when the socket is over its bound, settled once that frame is written
 * (or the socket closed). While such a promise is pending, or the socket holds bytes the kernel did not
 * take at the end of a tick, the socket's progress is checked FLUSH_CHECKS times per `flushTimeoutMs`;
 * nothing is timed while the kernel takes every byte.
 */
export function batchedSend(
  socket: WebSocket,
  tcp: Socket,
  maxBufferedBytes: number,
  opts: BatchedSendOptions = {},
): (data: string) => Promise<void> | undefined {
  const { flushTimeoutMs, onUnsent } = opts;
  let corked = false;
  const uncork = () => {
    corked = false;
    tcp.uncork();
    // Bytes the kernel did not take (its buffers are full: the reader is slow or gone) are watched too,
    // with no sender waiting: a client that stops reading with less than the bound queued, and nothing
    // more to send it, is dropped the same way.
    if (socket.bufferedAmount > 0) startWatch();
  };
  /**
   * Frames whose senders wait on the socket. While there are any, or the socket holds bytes the kernel has
   * not taken, a watch looks at the kernel's progress every quarter of `flushTimeoutMs` (FLUSH_CHECKS) and
   * terminates the socket after that many looks in a row that found none.
   */
  let waiting = 0;
  let watch: NodeJS.Timeout | undefined;
  let taken = 0;
  let idleChecks = 0;
  const stopWatch = () => {
    clearInterval(watch);
    watch = undefined;
  };
  const check = () => {
    if (waiting === 0 && socket.bufferedAmount === 0) return stopWatch();
    const nowTaken = kernelTaken(tcp);
    if (nowTaken !== taken) {
      taken = nowTaken;
      idleChecks = 0;
    } else if (++idleChecks >= FLUSH_CHECKS) {
      // Its reader has taken nothing for the whole bound while bytes wait for it: it is not reading, and
      // its subscriptions cannot end until it does.
      stopWatch();
      onUnsent?.();
      socket.terminate();
    }
  };
  const startWatch = () => {
    if (flushTimeoutMs === undefined || watch) return;
    taken = kernelTaken(tcp);
    idleChecks = 0;
    watch = setInterval(check, Math.ceil(flushTimeoutMs / FLUSH_CHECKS));
    watch.unref();
  };
  socket.once('close', stopWatch);
  const written = () => {
    waiting--;
    if (waiting === 0 && socket.bufferedAmount === 0) stopWatch();
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
    waiting++;
    startWatch();
    // A frame that cannot leave because the socket closed meanwhile ends the wait quietly: the client is
    // gone (it stopped reading), which is no error of the server's.
    return new Promise<void>((resolve, reject) =>
      socket.send(data, (err) => {
        written();
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

/**
 * Bytes of the socket's writes the kernel has taken so far: what was handed to libuv less what libuv still
 * queues. It grows each time the kernel makes room (on Linux, once about a third of the send buffer is
 * free), where the stream's public counts grow only once a whole write (a batch of frames) is in the
 * kernel. On a socket without these internals, that public count.
 */
export function kernelTaken(tcp: Socket): number {
  const internals = tcp as unknown as { _bytesDispatched?: unknown; _handle?: { writeQueueSize?: unknown } | null };
  const dispatched = internals._bytesDispatched;
  const queued = internals._handle?.writeQueueSize;
  if (typeof dispatched === 'number' && typeof queued === 'number') return dispatched - queued;
  return tcp.bytesWritten - tcp.writableLength;
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
