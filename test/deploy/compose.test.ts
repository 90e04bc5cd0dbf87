// docker-compose.yml cannot run here (no Docker), so its topology and wiring are checked by parsing it.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';

interface Service {
  image?: string;
  command?: string | string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  volumes?: string[];
  configs?: { source: string; target: string }[];
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, Service>;
  configs?: Record<string, { content?: string }>;
  volumes?: Record<string, unknown>;
}

const text = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
// yaml merges `<<: *anchor` keys only when asked to.
const compose = parse(text, { merge: true }) as Compose;
const services = compose.services;
const svc = (name: string) => {
  const s = services[name];
  if (!s) throw new Error(`service ${name} missing`);
  return s;
};
const commandOf = (s: Service) => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));
const dependsOn = (s: Service): Record<string, string> =>
  Array.isArray(s.depends_on)
    ? Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']))
    : Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
/** Compose interpolates `$` itself: `$$` is the literal dollar that nginx and shells need. */
const unescape = (s: string) => s.replaceAll('$$', '$');
const flag = (cmd: string, name: string) => new RegExp(`${name}[ =](\\S+)`).exec(cmd)?.[1];

describe('docker-compose.yml', () => {
  it('has the sharded cluster, the API replicas, the load balancer and the simulator', () => {
    for (const name of ['cfg', 'shard1', 'shard2', 'mongos', 'mongo-init', 'api', 'lb', 'simulator']) expect(services).toHaveProperty(name);
    expect(svc('api').deploy?.replicas).toBe(3);
  });

  it('runs a config server replica set and two shard replica sets that mongos and the init job agree on', () => {
    const cfg = commandOf(svc('cfg'));
    expect(cfg).toContain('--configsvr');
    const cfgSet = flag(cfg, '--replSet')!;
    const cfgPort = flag(cfg, '--port')!;
    expect(flag(commandOf(svc('mongos')), '--configdb')).toBe(`${cfgSet}/cfg:${cfgPort}`);
    expect(dependsOn(svc('mongos'))).toEqual({ cfg: 'service_healthy' });

    const init = unescape(commandOf(svc('mongo-init')));
    expect(init).toContain(`initiate('cfg:${cfgPort}', '${cfgSet}', { configsvr: true })`);
    const shardSets = ['shard1', 'shard2'].map((name) => {
      const cmd = commandOf(svc(name));
      expect(cmd).toContain('--shardsvr');
      const set = flag(cmd, '--replSet')!;
      const host = `${name}:${flag(cmd, '--port')}`;
      expect(init).toContain(`initiate('${host}', '${set}'`);
      expect(init).toContain(`'${set}/${host}'`); // addShard
      return set;
    });
    expect(new Set([cfgSet, ...shardSets]).size).toBe(3);
    expect(init).toContain(`connect('mongos:${flag(commandOf(svc('mongos')), '--port')}')`);
    expect(Object.keys(dependsOn(svc('mongo-init'))).sort()).toEqual(['cfg', 'shard1', 'shard2']);
  });

  it('points every API replica at mongos with a configuration the service accepts', () => {
    const api = svc('api');
    const env = api.environment!;
    const uri = new URL(env.MONGODB_URI!);
    expect(uri.hostname).toBe('mongos');
    expect(uri.port).toBe(flag(commandOf(svc('mongos')), '--port'));
    expect(env.HOST).toBe('0.0.0.0');
    const config = loadConfig(env);
    expect(config.MONGODB_URI).toBe(env.MONGODB_URI);
    expect(config.production).toBe(true);
    expect(commandOf(api)).toMatch(/npm ci && npm start/);
    expect(api.image).toMatch(/^node:20/);
    expect(dependsOn(api)).toMatchObject({ 'mongo-init': 'service_completed_successfully', mongos: 'service_healthy' });
    expect(api.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${config.PORT}/healthz`);
    // One signing key for all replicas: their DATA_DIR is one shared named volume.
    expect(api.volumes).toContain(`chainlog-keys:${env.DATA_DIR}`);
  });

  it('balances HTTP and /graphql WebSockets over the API replicas', () => {
    const lb = svc('lb');
    expect(lb.ports?.some((p) => /:80$/.test(p))).toBe(true);
    expect(dependsOn(lb)).toEqual({ api: 'service_healthy' });
    const conf = unescape(compose.configs![lb.configs![0]!.source]!.content!);
    const port = loadConfig(svc('api').environment!).PORT;
    expect(conf).toContain(`server api:${port};`);
    const graphql = /location \/graphql \{([^}]*)\}/.exec(conf)?.[1] ?? '';
    expect(graphql).toContain('proxy_http_version 1.1;');
    expect(graphql).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(graphql).toContain('proxy_set_header Connection $connection_upgrade;');
    expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;/);
  });

  it('routes each log\'s requests to one replica by the header the scale demo and clients send', async () => {
    const { ROUTE_HEADER } = await import('../../scripts/scale/load-balancer.js');
    const conf = unescape(compose.configs![svc('lb').configs![0]!.source]!.content!);
    const variable = `$http_${ROUTE_HEADER.replaceAll('-', '_')}`; // how nginx names a request header
    const map = new RegExp(`map \\${variable} \\$(\\w+) \\{([^}]*)\\}`).exec(conf);
    expect(map, conf).not.toBeNull();
    expect(map![2]).toMatch(/''\s+\$request_id;/); // no header: spread, not all to one replica
    expect(map![2]).toContain(`default ${variable};`);
    expect(/upstream chainlog \{([^}]*)\}/.exec(conf)?.[1]).toContain(`hash $${map![1]} consistent;`);
  });

  it('runs the simulator against the load balancer', () => {
    const sim = svc('simulator');
    expect(commandOf(sim)).toMatch(/npm ci && CHAINLOG_API_KEY=\$\$\(cat \/var\/lib\/chainlog\/admin-api-key\) npm run simulate -- --url http:\/\/lb(:80)?\s/);
    expect(Object.keys(dependsOn(sim))).toEqual(['lb']);
  });

  it('is internally consistent: dependencies exist without cycles, named volumes are declared, `$` is escaped', () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string) => {
      expect(services, `depends_on target ${name}`).toHaveProperty(name);
      if (done.has(name)) return;
      expect(visiting.has(name), `dependency cycle through ${name}`).toBe(false);
      visiting.add(name);
      for (const dep of Object.keys(dependsOn(svc(name)))) visit(dep);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(services)) visit(name);

    for (const s of Object.values(services)) {
      for (const v of s.volumes ?? []) {
        const source = v.split(':')[0]!;
        if (v.includes(':') && !source.startsWith('.') && !source.startsWith('/')) expect(compose.volumes).toHaveProperty(source);
      }
    }
    // A lone `$` would be replaced by compose with an environment variable (usually empty).
    expect(text.replaceAll('$$', '')).not.toContain('$');
  });
});
