// An answer that never ends, for the readers that must stop at their bound: `fill` written over and
// over, as fast as the client reads (waiting for 'drain'), until the connection closes.
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';

/** Starts writing to `res` (its head already written); the returned count grows with every chunk sent. */
export function writeEndless(res: ServerResponse, fill = 0x20): { bytes: number } {
  const sent = { bytes: 0 };
  const chunk = Buffer.alloc(16 * 1024, fill);
  const more = () => {
    while (!res.destroyed) {
      sent.bytes += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', more);
        return;
      }
    }
  };
  more();
  return sent;
}

/** The third field (the autotuned maximum, bytes) of a /proc/sys/net/ipv4/tcp_{r,w}mem file, or `fallback`. */
function tcpBufferMax(file: string, fallback: number): number {
  try {
    const max = Number(readFileSync(`/proc/sys/net/ipv4/${file}`, 'utf8').trim().split(/\s+/)[2]);
    return Number.isSafeInteger(max) && max > 0 ? max : fallback;
  } catch {
    return fallback;
  }
}

/**
 * The most of an endless answer that can be counted as sent (writeEndless) and not read by a reader
 * that stopped at its bound: what a loopback connection's kernel buffers hold at their largest (the
 * receiver's tcp_rmem and the sender's tcp_wmem maxima; 32 MiB each where /proc does not tell) and
 * 4 MiB for the streams' buffers in both processes. A reader that reads on goes past it at once.
 */
export const IN_FLIGHT_BYTES = tcpBufferMax('tcp_rmem', 32 << 20) + tcpBufferMax('tcp_wmem', 32 << 20) + (4 << 20);
