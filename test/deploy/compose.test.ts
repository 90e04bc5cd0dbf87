// docker-compose.yml cannot run here (no Docker), so its topology and wiring are checked by parsing it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config.js';

interface Service {
  image?: string;
  build?: { context: string; target?: string; dockerfile?: string };
  stop_grace_period?: string;
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
const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** The TypeScript source `npm run build` (tsconfig.build.json: rootDir → outDir) compiles to `js`, if any. */
function sourceOfBuilt(js: string): string | undefined {
  const build = ts.parseJsonConfigFileContent(
    ts.readConfigFile(`${REPO}tsconfig.build.json`, (path) => ts.sys.readFile(path)).config,
    ts.sys,
    REPO,
  );
  const outDir = build.options.outDir!;
  const rootDir = build.options.rootDir!;
  const built = `${REPO}${js}`;
  if (!built.startsWith(`${outDir}/`)) return undefined;
  const source = `${rootDir}/${built.slice(outDir.length + 1).replace(/\.js$/, '.ts')}`;
  return build.fileNames.includes(source) ? source : undefined;
}
const commandOf = (s: Service) => (Array.isArray(s.command) ? s.command.join(' ') : (s.command ?? ''));
const dependsOn = (s: Service): Record<string, string> =>
  Array.isArray(s.depends_on)
    ? Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']))
    : Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
/** Compose interpolates `$` itself: `$$` is the literal dollar that nginx and shells need. */
const unescape = (s: string) => s.replaceAll('$$', '$');
const flag = (cmd: string, name: string) => new RegExp(`${name}[ =](\\S+)`).exec(cmd)?.[1];
/** The one variable compose substitutes: the admin key shared by every replica and the simulator. */
const ADMIN_KEY_VARIABLE = /\$\{CHAINLOG_ADMIN_API_KEY:\?[^}]+\}/;
const SAMPLE_ADMIN_KEY = 'clk_compose-test-admin-key-0123456789';
/** The environment as compose hands it to a container when CHAINLOG_ADMIN_API_KEY is set. */
const interpolated = (env: Record<string, string>) =>
  Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).replace(ADMIN_KEY_VARIABLE, SAMPLE_ADMIN_KEY)]));

// The Dockerfile, by stage: `FROM image AS name` opens a stage; its instructions follow.
const dockerfile = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8');
interface Stage {
  name: string;
  from: string;
  lines: string[];
}
const stages: Stage[] = [];
for (const raw of dockerfile.replace(/\\\n/g, ' ').split('\n')) {
  const line = raw.trim();
  if (line === '' || line.startsWith('#')) continue;
  const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
  if (from) stages.push({ name: from[2] ?? String(stages.length), from: from[1]!, lines: [] });
  else stages.at(-1)?.lines.push(line);
}
const stage = (name: string) => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`Dockerfile stage ${name} missing`);
  return s;
};
const instructions = (s: Stage, op: string) =>
  s.lines.filter((l) => l.toUpperCase().startsWith(`${op} `)).map((l) => l.slice(op.length + 1).trim());

describe('docker-compose.yml', () => {
  it('has the sharded cluster, the API replicas, the load balancer and the simulator', () => {
    for (const name of ['cfg', 'shard1', 'shard2', 'mongos', 'mongo-init', 'api', 'lb', 'simulator'])
      expect(services).toHaveProperty(name);
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
    const config = loadConfig(interpolated(env));
    expect(config.MONGODB_URI).toBe(env.MONGODB_URI);
    expect(config.production).toBe(true);
    // One admin key for every replica, from the environment: no replica writes a key file the others race to read.
    expect(env.ADMIN_API_KEY).toMatch(ADMIN_KEY_VARIABLE);
    expect(config.ADMIN_API_KEY).toBe(SAMPLE_ADMIN_KEY);
    // The image's own command: node as the container's process, no install at start.
    expect(api.command).toBeUndefined();
    expect(api.build).toEqual({ context: '.', target: 'runtime' });
    expect(config.SHUTDOWN_TIMEOUT_MS).toBeLessThan(Number.parseInt(api.stop_grace_period ?? '10', 10) * 1000);
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
    const port = loadConfig(interpolated(svc('api').environment!)).PORT;
    expect(conf).toContain(`server api:${port};`);
    const graphql = /location \/graphql \{([^}]*)\}/.exec(conf)?.[1] ?? '';
    expect(graphql).toContain('proxy_http_version 1.1;');
    expect(graphql).toContain('proxy_set_header Upgrade $http_upgrade;');
    expect(graphql).toContain('proxy_set_header Connection $connection_upgrade;');
    expect(conf).toMatch(/map \$http_upgrade \$connection_upgrade \{\s*default upgrade;/);
  });

  it("routes each log's requests to one replica by the header the scale demo and clients send", async () => {
    const { ROUTE_HEADER } = await import('../../scripts/scale/load-balancer.js');
    const conf = unescape(compose.configs![svc('lb').configs![0]!.source]!.content!);
    const variable = `$http_${ROUTE_HEADER.replaceAll('-', '_')}`; // how nginx names a request header
    const map = new RegExp(`map \\${variable} \\$(\\w+) \\{([^}]*)\\}`).exec(conf);
    expect(map, conf).not.toBeNull();
    expect(map![2]).toMatch(/''\s+\$request_id;/); // no header: spread, not all to one replica
    expect(map![2]).toContain(`default ${variable};`);
    expect(/upstream chainlog \{([^}]*)\}/.exec(conf)?.[1]).toContain(`hash $${map![1]} consistent;`);
  });

  it('runs the simulator from the same image against the load balancer, with the shared admin key', () => {
    const sim = svc('simulator');
    expect(sim.build).toEqual(svc('api').build);
    expect(sim.image).toBe(svc('api').image);
    // The simulator's command line as the image has it: built (dist/cli), no TypeScript loader.
    expect(sim.command).toEqual(expect.arrayContaining(['node', 'dist/cli/simulate.js', '--url']));
    expect(existsSync(sourceOfBuilt('dist/cli/simulate.js') ?? ''), 'dist/cli/simulate.js is built from a source').toBe(true);
    expect(commandOf(sim)).toMatch(/--url http:\/\/lb(:80)?\s/);
    expect(commandOf(sim)).not.toContain('npm ci');
    expect(sim.environment?.CHAINLOG_API_KEY).toBe(svc('api').environment?.ADMIN_API_KEY);
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
    // A lone `$` would be replaced by compose with an environment variable (usually empty); the admin
    // key and the federation's primary verifier key are the deliberate substitutions, and compose
    // refuses to start without them.
    expect(
      text
        .replaceAll('$$', '')
        .replace(new RegExp(ADMIN_KEY_VARIABLE, 'g'), '')
        .replace(/\$\{CHAINLOG_PRIMARY_VERIFIER_KEY:\?[^}]+\}/g, ''),
    ).not.toContain('$');
  });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs in another that installs nothing', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    const build = stage('build');
    expect(instructions(build, 'RUN').join(' ')).toMatch(/\bnpm ci\b/);
    // Types are generated, checked and compiled at build time, and dev dependencies dropped before the copy.
    expect(instructions(build, 'RUN').join(' ')).toMatch(/npm run build && npm prune --omit=dev/);
    // What the build reads is in the build stage.
    const copied = instructions(build, 'COPY').join(' ');
    for (const file of ['tsconfig.json', 'tsconfig.build.json', 'codegen.ts', 'schema', 'src']) expect(copied).toContain(file);
    const runtime = stage('runtime');
    expect(instructions(runtime, 'RUN').join(' ')).not.toMatch(/npm (ci|install)/);
    expect(instructions(runtime, 'COPY')).toContain('--from=build /app/node_modules ./node_modules');
    // The built JavaScript and the schema it reads at start, no TypeScript.
    expect(instructions(runtime, 'COPY')).toContain('--from=build /app/dist ./dist');
    expect(instructions(runtime, 'COPY')).toContain('--from=build /app/schema ./schema');
    expect(instructions(runtime, 'COPY').join(' ')).not.toMatch(/\b(src|scripts)\b/);
  });

  it("applies the dependencies' patches in the build stage's npm ci, as a fresh clone's npm ci does", () => {
    const build = stage('build').lines;
    const copied = build.findIndex((l) => /^COPY\s+scripts\/patches\s+\.\/scripts\/patches$/.test(l));
    const installed = build.findIndex((l) => /^RUN\s+npm ci\b/.test(l));
    expect(copied).toBeGreaterThanOrEqual(0);
    expect(installed).toBeGreaterThan(copied);
  });

  it('needs no TypeScript loader at run time: none is a production dependency', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    for (const loader of ['tsx', 'ts-node', 'typescript', '@swc-node/register', 'esbuild'])
      expect(Object.keys(pkg.dependencies)).not.toContain(loader);
  });

  it('runs on the Node the project supports', () => {
    const engines = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).engines.node as string;
    const min = /^>=(\d+)\.(\d+)$/.exec(engines)!.slice(1).map(Number);
    for (const s of stages) {
      // A tag that names major.minor: `node:20` alone would float to whatever 20.x the registry has.
      const version = /^node:(\d+)\.(\d+)/.exec(s.from)?.slice(1).map(Number);
      expect(version, s.from).toBeDefined();
      expect(
        version![0]! > min[0]! || (version![0] === min[0] && version![1]! >= min[1]!),
        `${s.from} vs engines ${engines}`,
      ).toBe(true);
    }
  });

  it('runs as a non-root user, with node itself as the container process (signals reach the service)', () => {
    const runtime = stage('runtime');
    const user = instructions(runtime, 'USER').at(-1);
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!.split(':')[0]);
    const cmd = JSON.parse(instructions(runtime, 'CMD').at(-1)!) as string[];
    expect(cmd[0]).toBe('node');
    // The built service, compiled from src/main.ts by `npm run build` in the build stage.
    expect(cmd.at(-1)).toBe('dist/main.js');
    expect(sourceOfBuilt(cmd.at(-1)!)).toBe(`${REPO}src/main.ts`);
    expect(cmd).not.toContain('--import');
    expect(cmd).not.toContain('npm');
    expect(instructions(runtime, 'ENTRYPOINT')).toEqual([]);
    // The same flags as `npm start` (package.json), minus npm.
    const start = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).scripts.start as string;
    expect(start).toBe(`exec ${cmd.join(' ')}`);
  });

  it('keeps the data directory the service uses in the image, writable by that user, as a volume', () => {
    const runtime = stage('runtime');
    const env = instructions(runtime, 'ENV').join(' ');
    const dataDir = /DATA_DIR=(\S+)/.exec(env)?.[1];
    expect(dataDir).toBe(svc('api').environment!.DATA_DIR);
    expect(instructions(runtime, 'RUN').join(' ')).toContain(`chown node:node ${dataDir}`);
    expect(instructions(runtime, 'VOLUME')).toContain(dataDir);
    expect(instructions(runtime, 'USER').at(-1)).toBe('node');
  });

  it('has the federation profile: a primary, two mirrors that witness it, keys and policy written once', () => {
    const fed = ['federation-init', 'primary', 'witness1', 'witness2', 'federation-simulator'];
    for (const name of fed) expect((svc(name) as Service & { profiles?: string[] }).profiles).toEqual(['federation']);
    // The init job's command, run for real with the built CLI: the files the servers are pointed at.
    const dir = mkdtempSync(join(tmpdir(), 'compose-federation-'));
    const init = commandOf(svc('federation-init'));
    const cli = /node (dist\/cli\/federation-files\.js .*?)(?: &&|$)/s.exec(init.replace(/\s+/g, ' '))![1]!.split(' ');
    expect(sourceOfBuilt(cli[0]!)).toBeDefined();
    const args = cli.slice(1).map((a) => (a === '/federation' ? dir : a));
    const out = execFileSync(process.execPath, [`${REPO}${cli[0]}`, ...args], { encoding: 'utf8' });
    const serverKey = /^server verifier key (\S+)$/m.exec(out)![1]!;
    const primary = svc('primary').environment!;
    const at = (f: string) => f.replace('/federation', dir);
    const primaryConfig = loadConfig(interpolated(primary));
    expect(readFileSync(at(primaryConfig.WITNESS_POLICY_FILE!), 'utf8')).toMatch(/^quorum /m);
    expect(existsSync(at(primary.SIGNING_KEY_FILE!))).toBe(true);
    for (const [name, witness] of [
      ['w1', 'witness1'],
      ['w2', 'witness2'],
    ] as const) {
      const env = interpolated(svc(witness).environment!);
      // The policy sends w1's submissions to the witness1 service, under the name it cosigns with.
      expect(readFileSync(at(primaryConfig.WITNESS_POLICY_FILE!), 'utf8')).toContain(`witness ${name} ${name}+`);
      expect(readFileSync(at(primaryConfig.WITNESS_POLICY_FILE!), 'utf8')).toMatch(
        new RegExp(`http://${witness}:4000/witness$`, 'm'),
      );
      expect(env.WITNESS_NAME).toBe(name);
      const config = loadConfig({ ...env, FOLLOW_VERIFIER_KEY: serverKey });
      expect(config.FOLLOW_URL).toBe('http://primary:4000');
      expect(existsSync(at(config.WITNESS_KEY_FILE!))).toBe(true);
      // The simulator's 5 logs and the erasures log, whose checkpoints an auditor with the policy needs cosigned too.
      const witnessed = readFileSync(at(config.WITNESSED_LOGS_FILE!), 'utf8').split('\n').filter(Boolean);
      expect(witnessed).toHaveLength(6);
      expect(witnessed.at(-1)).toMatch(/^log chainlog\.federation\/_erasures\+/);
      expect(dependsOn(svc(witness))).toMatchObject({ primary: 'service_healthy' });
    }
    // Running it again keeps every key: the identities never change under a restart.
    expect(execFileSync(process.execPath, [`${REPO}${cli[0]}`, ...args], { encoding: 'utf8' })).toBe(out);
  });
});
