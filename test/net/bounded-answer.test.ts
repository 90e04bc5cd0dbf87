// readBoundedText on fetch's Response: the bound is exact (max bytes pass, max + 1 do not, declared or
// sent), the text is UTF-8 decoded across chunk boundaries as fetch's text() decodes it, and a refused
// body is cancelled, not read on.
import { expect, it } from 'vitest';
import { AnswerTooLongError, readBoundedText } from '../../src/net/bounded-answer.js';

/** A Response whose body arrives as these chunks, pulled one at a time; `pulled` counts the pulls. */
function chunked(chunks: Uint8Array[], headers: Record<string, string> = {}) {
  const state = { pulled: 0, cancelled: false };
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks[state.pulled++];
      if (next) controller.enqueue(next);
      else controller.close();
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { res: new Response(body, { headers }), state };
}

const bytes = (s: string) => new TextEncoder().encode(s);

it('reads exactly max bytes, and refuses one more', async () => {
  expect(await readBoundedText(chunked([bytes('abc'), bytes('de')]).res, 5)).toBe('abcde');
  const { res, state } = chunked([bytes('abc'), bytes('def'), bytes('never pulled')]);
  await expect(readBoundedText(res, 5)).rejects.toMatchObject({ message: 'answer longer than 5 bytes', declared: null });
  expect(state.cancelled).toBe(true);
  expect(state.pulled).toBeLessThan(3);
});

it('refuses a declared length over max without reading the body', async () => {
  const { res, state } = chunked([bytes('abc')], { 'content-length': '6' });
  const err = await readBoundedText(res, 5).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AnswerTooLongError);
  expect(err).toMatchObject({ message: 'answer of 6 bytes, more than 5', declared: 6 });
  expect(state.cancelled).toBe(true);
});

it('decodes UTF-8 split across chunks, and a malformed sequence as U+FFFD', async () => {
  const snow = bytes('a☃b'); // the snowman is 3 bytes
  expect(await readBoundedText(chunked([snow.slice(0, 2), snow.slice(2)]).res, 10)).toBe('a☃b');
  expect(await readBoundedText(chunked([Uint8Array.of(0x61, 0xff, 0x62)]).res, 10)).toBe('a\uFFFDb');
  expect(await readBoundedText(new Response(null), 10)).toBe('');
});
