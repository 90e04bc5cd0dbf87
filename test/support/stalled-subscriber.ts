// The slow-reader case both live transports share (graphql-ws and SSE): a subscriber that stops reading
// while a log named `stalled` receives more matching events than a subscription may hold, then is told to
// resume after what it received. One fixture, so the two transports are held to the same bound.
import { expect } from 'vitest';
import type { RunningService } from './service.js';

/** The log the stalled subscriber follows. */
export const STALLED_LOG = 'stalled';

/** Events logged by fillStalledLog: more than the 10,000 a subscription may hold, with what the buffers hold. */
export const STALLED_EVENTS = 11_500;

/** Each event goes out ~50 KB large (25 copies of a 2 KB payload): the response or socket and the kernel fill quickly. */
export const STALLED_QUERY = `subscription { eventLogged(filter: { sourceAppIds: ["${STALLED_LOG}"] }) { id ${Array.from(
  { length: 25 },
  (_, k) => `p${k}: payload`,
).join(' ')} } }`;

/** Logs STALLED_EVENTS events of ~2 KB to STALLED_LOG through logEvents, in batches of 500. */
export async function fillStalledLog(svc: RunningService): Promise<void> {
  const payload = { pad: 'x'.repeat(2_000) };
  for (let b = 0; b < STALLED_EVENTS / 500; b++) {
    const inputs = Array.from({ length: 500 }, (_, i) => ({
      sourceAppId: STALLED_LOG,
      eventType: 'big',
      timestamp: new Date(Date.UTC(2025, 5, 1) + b * 500 + i).toISOString(),
      payload,
    }));
    const res = await svc.gql('mutation($in: [LogEventInput!]!) { logEvents(inputs: $in) { seq } }', { in: inputs });
    expect(res.errors).toBeUndefined();
  }
}

/**
 * What a stalled subscriber received before the server ended its subscription: some events and at most the
 * transport's bound plus what the kernel held, in order from the first with none skipped, and a
 * RESUME_REQUIRED end whose `after` is the last of them.
 */
export function expectResumeAfterReceived(ids: string[], end: { extensions: { code: string; after?: string } }): void {
  expect(end.extensions.code).toBe('RESUME_REQUIRED');
  expect(ids.length).toBeGreaterThan(0);
  expect(ids.length).toBeLessThan(2_000);
  expect(ids).toEqual(ids.map((_, i) => `${STALLED_LOG}/${i}`));
  expect(end.extensions.after).toBe(ids.at(-1));
}
