// An answer that never ends, for the readers that must stop at their bound: `fill` written over and
// over, as fast as the client reads (waiting for 'drain'), until the connection closes.
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
