// 9. Attacks beside a trivial query: the trivial query's p99 on one connection while each attack runs on
// others, against its idle p99 in the same run, on the loaded data set. The attacks are the ones the
// service bounds (README "What a caller can cost the server"): documents refused cheaply, slow reads
// cut into budgeted steps (a replay of few matches, filters that match nothing on a large log), and
// oversized variable lists refused before they are coerced.
import WebSocket from 'ws';
import { GraphQLClient } from '../http.js';
import { LOG_EVENTS, TRIVIAL } from '../queries.js';
import { figure, type Figure } from '../report.js';
import type { Dataset, Scenario, ScenarioContext } from '../scenario.js';
import { sized } from '../sizes.js';
import { subscribe, wsClient, type Subscription } from '../ws.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';

const ATTACKERS = 4;

/** 30 KB of one field repeated: ~3,750 selections in one selection set. */
const REPEATED = `{ serverInfo { ${'version '.repeat(3750)}} }`;
const pages = (n: number, first: string) =>
  Array.from({ length: n }, (_, k) => `a${k}: events(first: ${first}) { edges { node { payload } } }`).join(' ');
const ALIASES_LITERAL = `{ ${pages(15, '500')} }`;
const ALIASES_VARIABLE = `query($n: Int) { ${pages(30, '$n')} }`;
const FAN_OUT = `fragment F on Query { ${'__typename '.repeat(90)}} { ${'...F '.repeat(50)}}`;

interface Attack {
  name: string;
  /** Connections sending the attack at once (default ATTACKERS). */
  connections?: number;
  /** One attacker's loop body: sends one attack, resolves with the refusal code it got (or 'none'). */
  start(url: string): Promise<{ once(): Promise<string>; close(): void }>;
}

function httpAttack(name: string, query: string, variables?: Record<string, unknown>, connections?: number): Attack {
  // Serialized once: the attackers send the same bytes, and the client's own work stays out of the figure.
  const body = JSON.stringify(variables ? { query, variables } : { query });
  return {
    name,
    ...(connections ? { connections } : {}),
    async start(url) {
      const client = new GraphQLClient(url, { maxSockets: 1 });
      return {
        async once() {
          const res = await client.post(body);
          try {
            return String(
              (JSON.parse(res.body) as { errors?: Array<{ extensions?: { code?: string } }> }).errors?.[0]?.extensions?.code ??
                'none',
            );
          } catch {
            return `HTTP ${res.status}`;
          }
        },
        close: () => client.close(),
      };
    },
  };
}

/** A graphql-transport-ws socket sending `query` again and again, each after the previous answer. */
function wsAttack(name: string, query: string): Attack {
  return {
    name,
    async start(url) {
      const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      const waiting = new Map<string, (code: string) => void>();
      socket.on('message', (data) => {
        const m = JSON.parse((data as Buffer).toString('utf8')) as {
          id?: string;
          type: string;
          payload?: Array<{ extensions?: { code?: string } }>;
        };
        if (m.id && (m.type === 'error' || m.type === 'next' || m.type === 'complete')) {
          waiting.get(m.id)?.(m.type === 'error' ? String(m.payload?.[0]?.extensions?.code ?? 'error') : 'none');
          waiting.delete(m.id);
        }
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init' })));
        socket.once('message', () => resolve());
      });
      let n = 0;
      return {
        once: () =>
          new Promise<string>((resolve, reject) => {
            if (socket.readyState !== WebSocket.OPEN) return reject(new Error('attack socket closed'));
            const id = String(n++);
            waiting.set(id, resolve);
            socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
          }),
        close: () => socket.close(),
      };
    },
  };
}

/**
 * `streams` subscriptions on one socket, each resuming `log` after its first event with a filter of that
 * log (what a READER key scoped to the log gets): each replays the store after that event, in budgeted
 * steps, for the log's few other events. One attack is done when every stream has them all.
 */
function replayAttack(name: string, log: string, matches: number, streams: number): Attack {
  const query = `subscription { eventLogged(after: ${JSON.stringify(`${log}/0`)}, filter: { sourceAppIds: [${JSON.stringify(log)}] }) { seq } }`;
  return {
    name,
    connections: 1,
    async start(url) {
      const client = wsClient(`${url.replace(/^http/, 'ws')}/graphql`);
      return {
        async once() {
          const subs: Subscription[] = [];
          try {
            await Promise.all(
              Array.from(
                { length: streams },
                () =>
                  new Promise<void>((resolve, reject) => {
                    let got = 0;
                    const sub = subscribe(client, query, undefined, () => {
                      if (++got === matches) resolve();
                    });
                    subs.push(sub);
                    sub.done.then(() => reject(new Error(`a replay ended after ${got} of ${matches} events`)), reject);
                  }),
              ),
            );
            return 'none';
          } catch (err) {
            return `error: ${(err as Error).message.slice(0, 120)}`;
          } finally {
            for (const sub of subs) sub.unsubscribe();
          }
        },
        close: () => void client.dispose(),
      };
    },
  };
}

/** The attacks at this run's sizes: the slow reads and oversized variables are full size outside quick mode. */
function attacksFor(ctx: ScenarioContext, ds: Dataset): Attack[] {
  const logEventsItems = sized(ctx, { quick: 15_000, full: 150_000 });
  const filterIds = sized(ctx, { quick: 150_000, full: 1_500_000 });
  const nothing = Array.from(
    { length: 30 },
    (_, k) =>
      `a${k}: events(first: 10, filter: { sourceAppIds: [${JSON.stringify(ds.bigLog)}], eventTypes: ["nope"] }) { edges { cursor } pageInfo { endCursor } }`,
  );
  const inputs = Array.from({ length: logEventsItems }, (_, i) => ({
    eventType: 't',
    timestamp: '2024-01-01T00:00:00Z',
    sourceAppId: 'big',
    payload: { i },
  }));
  const count = (n: number) => n.toLocaleString('en-US');
  return [
    wsAttack('30 KB of repeated fields over WebSocket', REPEATED),
    httpAttack('15 aliases of events(first: 500) { payload }', ALIASES_LITERAL),
    httpAttack('30 aliases of events(first: $n), $n = 500', ALIASES_VARIABLE, { n: 500 }),
    httpAttack('fragment fan-out (4,500 fields)', FAN_OUT),
    replayAttack(
      `20 eventLogged(after:) replays of a ${ds.sparseSize}-event log over ${count(ds.total + ds.sparseSize)} events, one socket`,
      ds.sparseLog,
      ds.sparseSize - 1,
      20,
    ),
    httpAttack(
      `30 aliases of events(filter: { sourceAppIds: [${ds.bigLog}], eventTypes: ["nope"] }) over ${count(ds.bigSize)} events`,
      `{ ${nothing.join(' ')} }`,
    ),
    httpAttack(`logEvents with a variable list of ${count(logEventsItems)} inputs`, LOG_EVENTS, { inputs }),
    httpAttack(
      `events(filter: $f) with ${count(filterIds)} sourceAppIds`,
      'query($f: EventFilter) { events(filter: $f) { edges { cursor } } }',
      {
        f: { sourceAppIds: Array.from({ length: filterIds }, () => 'a') },
      },
    ),
  ];
}

export const attacks: Scenario = {
  id: '9',
  title: 'Attacks: trivial-query p99 while each attack runs on other connections',
  usesDataset: true,
  measures:
    `p99 of the trivial query on one connection, idle and while ${ATTACKERS} other connections (one for the replays) send one attack ` +
    'back to back (each attack is sent again as soon as its answer arrives), on the loaded data set; with the answers seen ' +
    "(an error code, or 'none' when served). The replays use a filter of the sparse log, as a READER key scoped to it does " +
    '(the benchmark runs with AUTH=off).',
  async run(ctx) {
    const { engine } = ctx;
    const url = ctx.dataset!.server.url;
    const samples = sized(ctx, { quick: 200, full: 2000, slowQuick: 100, slowFull: 500 });
    const probe = new GraphQLClient(url, { maxSockets: 1 });
    const sample = async (): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        const t = performance.now();
        await probe.request(TRIVIAL);
        times.push(performance.now() - t);
      }
      return times;
    };
    const figures: Figure[] = [];
    const details: Record<string, unknown> = { attackers: ATTACKERS, samples };
    try {
      const idle = summarize(await sample());
      details.idleMs = roundSummary(idle);
      const base = { name: 'trivial query p99, idle', value: idle.p99, unit: 'ms' };
      figures.push(figure(engine.name, 'trivial query p99, idle', idle.p99, 'ms'));
      for (const attack of attacksFor(ctx, ctx.dataset!)) {
        const attackers = await Promise.all(Array.from({ length: attack.connections ?? ATTACKERS }, () => attack.start(url)));
        const refusals: Record<string, number> = {};
        let running = true;
        const loops = attackers.map(async (a) => {
          while (running) {
            const code = await a.once();
            refusals[code] = (refusals[code] ?? 0) + 1;
          }
        });
        let during;
        try {
          during = summarize(await sample());
        } finally {
          running = false;
          await Promise.all(loops);
          for (const a of attackers) a.close();
        }
        ctx.log(
          `9: ${attack.name}: trivial p99 ${during.p99.toFixed(2)} ms (idle ${idle.p99.toFixed(2)} ms); refusals ${JSON.stringify(refusals)}`,
        );
        figures.push(
          figure(engine.name, `trivial query p99 during: ${attack.name}`, during.p99, 'ms', {
            baseline: base,
            target: { op: '<=', value: 100, text: 'trivial query p99 <= 100 ms while the attack runs' },
          }),
        );
        details[attack.name] = { connections: attack.connections ?? ATTACKERS, trivialMs: roundSummary(during), refusals };
      }
    } finally {
      probe.close();
    }
    return { figures, details };
  },
};
