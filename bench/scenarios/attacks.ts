// 9. Attacks beside a trivial query: the trivial query's p99 on one connection while each attack runs on
// others, against its idle p99 in the same run, on the loaded data set. The attacks are the ones the
// service bounds (README "What a caller can cost the server"): each should be refused cheaply.
import WebSocket from 'ws';
import { GraphQLClient } from '../http.js';
import { TRIVIAL } from '../queries.js';
import { figure, type Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { sized } from '../sizes.js';
import { roundSummary, summarize } from '../../src/simulator/stats.js';

const ATTACKERS = 4;

/** 30 KB of one field repeated: ~3,750 selections in one selection set. */
const REPEATED = `{ serverInfo { ${'version '.repeat(3750)}} }`;
const pages = (n: number, first: string) => Array.from({ length: n }, (_, k) => `a${k}: events(first: ${first}) { edges { node { payload } } }`).join(' ');
const ALIASES_LITERAL = `{ ${pages(15, '500')} }`;
const ALIASES_VARIABLE = `query($n: Int) { ${pages(30, '$n')} }`;
const FAN_OUT = `fragment F on Query { ${'__typename '.repeat(90)}} { ${'...F '.repeat(50)}}`;

interface Attack {
  name: string;
  /** One attacker's loop body: sends one attack, resolves with the refusal code it got (or 'none'). */
  start(url: string): Promise<{ once(): Promise<string>; close(): void }>;
}

function httpAttack(name: string, query: string, variables?: Record<string, unknown>): Attack {
  return {
    name,
    async start(url) {
      const client = new GraphQLClient(url, { maxSockets: 1 });
      const body = JSON.stringify(variables ? { query, variables } : { query });
      return {
        async once() {
          const res = await client.post(body);
          try {
            return String((JSON.parse(res.body) as { errors?: Array<{ extensions?: { code?: string } }> }).errors?.[0]?.extensions?.code ?? 'none');
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
        const m = JSON.parse(String(data)) as { id?: string; type: string; payload?: Array<{ extensions?: { code?: string } }> };
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

const ATTACKS: Attack[] = [
  wsAttack('30 KB of repeated fields over WebSocket', REPEATED),
  httpAttack('15 aliases of events(first: 500) { payload }', ALIASES_LITERAL),
  httpAttack('30 aliases of events(first: $n), $n = 500', ALIASES_VARIABLE, { n: 500 }),
  httpAttack('fragment fan-out (4,500 fields)', FAN_OUT),
];

export const attacks: Scenario = {
  id: '9',
  title: 'Attacks: trivial-query p99 while each attack runs on other connections',
  usesDataset: true,
  measures:
    `p99 of the trivial query on one connection, idle and while ${ATTACKERS} other connections send one attack back to back ` +
    '(each attack is sent again as soon as its refusal arrives), on the loaded data set; with the refusals seen.',
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
      for (const attack of ATTACKS) {
        const attackers = await Promise.all(Array.from({ length: ATTACKERS }, () => attack.start(url)));
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
        ctx.log(`9: ${attack.name}: trivial p99 ${during.p99.toFixed(2)} ms (idle ${idle.p99.toFixed(2)} ms); refusals ${JSON.stringify(refusals)}`);
        figures.push(
          figure(engine.name, `trivial query p99 during: ${attack.name}`, during.p99, 'ms', {
            baseline: base,
            target: { op: '<=', value: 100, text: 'trivial query p99 <= 100 ms while the attack runs' },
          }),
        );
        details[attack.name] = { trivialMs: roundSummary(during), refusals };
      }
    } finally {
      probe.close();
    }
    return { figures, details };
  },
};
