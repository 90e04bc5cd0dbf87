// A running service's /metrics as a signal: the value of a sample, and "the server has registered these
// subscriptions" (graphql-ws acknowledges a subscription only by delivering to it).
import type { RunningService } from './service.js';
import { until } from './wait.js';

/** The value of one Prometheus sample (summed over the series whose labels include `labels`; 0 when absent), read as admin. */
export async function metric(
  svc: Pick<RunningService, 'url' | 'authHeaders'>,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${svc.url}/metrics`, { headers: svc.authHeaders() })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) total += Number(m[3]);
  }
  return total;
}

/**
 * Runs `open` (which starts `count` subscriptions to `field`) and resolves with what it returned once the
 * server counts them open: their listeners are registered, so whatever is committed from then on reaches them.
 */
export async function whenSubscribed<T>(
  svc: Pick<RunningService, 'url' | 'authHeaders'>,
  open: () => T,
  { field = 'eventLogged', count = 1 }: { field?: 'eventLogged' | 'checkpointPublished'; count?: number } = {},
): Promise<T> {
  const gauge = () => metric(svc, 'chainlog_graphql_active_subscriptions', { field });
  const before = await gauge();
  const opened = open();
  await until(`${count} more open ${field} subscription(s) on the server`, async () => (await gauge()) >= before + count);
  return opened;
}
