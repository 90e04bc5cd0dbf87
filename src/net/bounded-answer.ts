// Reading the answer of another server (a witness, a mirror's primary, the service a client or the
// auditor asks) within a bound: a server this process does not control may declare or send any length,
// and an answer is read whole before it is parsed, so the bound is what keeps a hostile or broken one
// from filling this process's memory. Portable (fetch's Response and TextDecoder): the client imports it.

/** UTF-8 as fetch's text() decodes it: a malformed sequence becomes U+FFFD. */
const utf8 = new TextDecoder('utf-8');

/** Thrown when an answer is longer than the reader's bound; the rest of it is not read. */
export class AnswerTooLongError extends Error {
  override name = 'AnswerTooLongError';
  constructor(
    message: string,
    /** The length the answer declared (Content-Length), or null when it sent more than the bound. */
    readonly declared: number | null = null,
  ) {
    super(message);
  }
}

/** The answer's text (UTF-8, as readBoundedBytes reads its bytes). */
export async function readBoundedText(res: Response, max: number): Promise<string> {
  return utf8.decode(await readBoundedBytes(res, max));
}

/**
 * The answer's bytes, refusing with AnswerTooLongError one that declares (Content-Length) or sends
 * more than `max` bytes, as soon as it does: the body is cancelled, its rest never read.
 */
export async function readBoundedBytes(res: Response, max: number): Promise<Uint8Array> {
  const length = Number(res.headers.get('content-length'));
  if (length > max) {
    await res.body?.cancel();
    throw new AnswerTooLongError(`answer of ${length} bytes, more than ${max}`, length);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new AnswerTooLongError(`answer longer than ${max} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const whole = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    whole.set(c, at);
    at += c.byteLength;
  }
  return whole;
}
