// `npm start`: run the service until SIGINT/SIGTERM.
import { pino } from 'pino';
import { startChainlog } from './app.js';
import { ConfigError, loadConfig } from './config.js';

const bootLogger = pino();
let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    bootLogger.fatal(err.message);
    process.exit(2);
  }
  throw err;
}

// Everything the service creates (the SQLite database with its -wal and -shm, keys, DATA_DIR itself) is
// its user's alone: a log of evidence is no one else's to read.
process.umask(0o077);

const app = await startChainlog(config).catch((err: unknown) => {
  bootLogger.fatal({ err }, 'chainlog failed to start');
  process.exit(1);
});
let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    app.logger.info({ signal }, 'shutting down');
    // Never hang on the way out: a stuck connection must not keep a stopped process alive.
    setTimeout(() => {
      app.logger.error('shutdown took longer than 20 s; exiting now');
      process.exit(1);
    }, 20_000).unref();
    app.close().then(
      () => process.exit(0),
      (err) => {
        app.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}
