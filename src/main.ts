// `npm start`: run the service until SIGINT/SIGTERM.
//
// Signals: this process is the one a supervisor signals (`npm start` execs node in place of npm's
// shell; the Dockerfile runs node directly). SIGINT or SIGTERM drain HTTP and WebSocket clients and
// close storage; after SHUTDOWN_TIMEOUT_MS, or on a second signal, the process exits anyway.
//
// A signal within REPEAT_SIGNAL_MS of the first is not a second one: Ctrl-C under `npm start` reaches
// the service twice (the terminal signals the whole process group, and npm forwards its own copy), and
// the kernel merges the two only when both are pending at once. A person who means "now" presses again
// after seeing "shutting down".
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { startChainlog, type Chainlog } from './app.js';
import { ADMIN_KEY_FILE } from './auth/bootstrap.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { DataDirLockedError } from './data-dir-lock.js';
import { leaveWorkersTheirYoungGeneration } from './young-generation.js';

/** Readable lines on a terminal (or when asked), JSON lines for log collectors. */
function usePretty(format: Config['LOG_FORMAT'] | undefined): boolean {
  return format === 'pretty' || ((format ?? 'auto') === 'auto' && process.stdout.isTTY === true);
}

function createLogger(level: string, prettyLines: boolean): Logger {
  if (!prettyLines) return pino({ level });
  // In-process and synchronous: a fatal line written just before process.exit is not lost.
  const stream = pretty({
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
    sync: true,
  });
  return pino({ level }, stream);
}

// Before any worker thread starts (the first is the SQLite writer, at the first write).
leaveWorkersTheirYoungGeneration();

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    createLogger('info', usePretty(undefined)).fatal(err.message);
    process.exit(2);
  }
  throw err;
}

// Everything the service creates (the SQLite database with its -wal and -shm, keys, DATA_DIR itself) is
// its user's alone: a log of evidence is no one else's to read.
process.umask(0o077);

const prettyLines = usePretty(config.LOG_FORMAT);
const logger = createLogger(config.LOG_LEVEL, prettyLines);
const app = await startChainlog(config, logger).catch((err: unknown): never => {
  if (err instanceof DataDirLockedError) logger.fatal(err.message);
  else logger.fatal({ err }, 'chainlog failed to start');
  process.exit(1);
});
if (prettyLines) process.stdout.write(banner(app, config));

// SIGHUP re-reads WITNESSED_LOGS_FILE, WITNESS_POLICY_FILE and PEERS_FILE; a file that does not load leaves its current version in force.
process.on('SIGHUP', () => app.reload());

const REPEAT_SIGNAL_MS = 1000;
let closingSince: number | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closingSince !== undefined) {
      if (performance.now() - closingSince < REPEAT_SIGNAL_MS) {
        app.logger.info({ signal }, 'already shutting down (a signal a second or more after the first exits at once)');
        return;
      }
      app.logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(1);
    }
    closingSince = performance.now();
    app.logger.info({ signal, drainMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
    // Never hang on the way out: a stuck connection must not keep a stopped process alive.
    setTimeout(() => {
      app.logger.error(`shutdown took longer than SHUTDOWN_TIMEOUT_MS (${config.SHUTDOWN_TIMEOUT_MS} ms); exiting now`);
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
    app.close().then(
      () => {
        app.logger.info('stopped');
        process.exit(0);
      },
      (err) => {
        app.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

/** What a person at a terminal needs next: where it runs, which key to use, what to type. */
function banner(app: Chainlog, config: Config): string {
  const keyFile = join(config.DATA_DIR, ADMIN_KEY_FILE);
  const adminKey =
    config.AUTH === 'off'
      ? 'none needed: AUTH=off (local demos only)'
      : config.ADMIN_API_KEY
        ? 'the ADMIN_API_KEY you set'
        : `in ${keyFile} (keep it secret)`;
  const keyHeader =
    config.AUTH === 'off' ? '' : config.ADMIN_API_KEY ? ' -H "x-api-key: $ADMIN_API_KEY"' : ` -H "x-api-key: $(cat ${keyFile})"`;
  const createWriter = JSON.stringify({
    query: 'mutation { createApiKey(role: WRITER, sourceAppIds: ["checkout"]) { secret } }',
  });
  const lines = [
    '',
    `  chainlog ${app.service.info.version} is running at ${app.url}`,
    `    GraphQL + subscriptions  ${app.url}/graphql    REST ingest  POST ${app.url}/v1/events`,
    `    storage                  ${app.engine}: ${app.location}`,
    `    admin API key            ${adminKey}`,
    `    verifier key             ${app.service.info.verifierKey}`,
    ...(app.witness
      ? [`    witness                  POST ${app.url}/witness/add-checkpoint  key ${app.witness.verifierKey}`]
      : []),
    '',
    '  Next: create a writer key (then follow the tour in README.md):',
    `    curl -s ${app.url}/graphql -H 'Content-Type: application/json'${keyHeader} \\`,
    `      -d '${createWriter}'`,
    '',
    '  Ctrl-C stops it.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}
