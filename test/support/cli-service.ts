// The real service as a child process (service-process.ts) on a temp DATA_DIR and a free port, for end-to-end
// tests of the CLIs. The verifier key is derived from the key file, never asked of the server.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawPublicKey, verifierKeyString } from '../../src/core/index.js';
import { ServiceProcess, startOnFreePort } from './service-process.js';

export interface CliService {
  url: string;
  port: number;
  dataDir: string;
  dbPath: string;
  /** Derived from DATA_DIR/signing-key.pem and the key name. */
  verifierKey: string;
  /** Stops the service and keeps DATA_DIR (a later startCliService may run on it again). */
  stop(): Promise<void>;
}

export interface CliServiceOptions {
  dataDir?: string;
  port?: number;
  originPrefix?: string;
  env?: Record<string, string>;
}

export async function startCliService(options: CliServiceOptions = {}): Promise<CliService> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'chainlog-cli-'));
  const originPrefix = options.originPrefix ?? 'e2e.chainlog';
  const env = {
    ORIGIN_PREFIX: originPrefix,
    KEY_NAME: originPrefix,
    CHECKPOINT_INTERVAL_MS: '200',
    // The CLI suites are about the tools, not about keys (test/auth/cli.test.ts is): off unless asked.
    AUTH: 'off',
    ...options.env,
  };
  const make = (port: number) => new ServiceProcess(port, dataDir, env);
  let proc: ServiceProcess;
  if (options.port === undefined) proc = await startOnFreePort(make);
  else await (proc = make(options.port)).start();
  const pem = readFileSync(join(dataDir, 'signing-key.pem'), 'utf8');
  return {
    url: proc.url,
    port: proc.port,
    dataDir,
    dbPath: join(dataDir, 'chainlog.db'),
    verifierKey: verifierKeyString(originPrefix, rawPublicKey(createPrivateKey(pem))),
    stop: () => proc.stop(),
  };
}
