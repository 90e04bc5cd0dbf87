// chainlog as a child process, run from its sources (`node <npm start's flags> --import tsx src/main.ts`:
// what `npm start` runs, without the build; the SQLite writer thread then loads through tsx too), or built
// (`node <npm start's flags> dist/main.js`, exactly what `npm start` runs; `{ built: true }`), on a port
// and a DATA_DIR: started (ready when /healthz answers 200 on a socket the child holds), stopped
// (SIGTERM), killed (SIGKILL) and started again on the same data. The one spawner of the tests:
// startService (service.ts), startCliService (cli-service.ts), the crash test and the dashboard's
// browser tests (test/dashboard/browser.ts, built) use it. test/operations and the README tour start the
// built service, as users do.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, SERVER_NODE_ARGS } from '../../bench/server.js';
import { listensOn } from '../../bench/port-owner.js';

/** The node flags `npm start` passes before the entry point (SERVER_NODE_ARGS is kept equal to it by a test). */
export const START_FLAGS: readonly string[] = SERVER_NODE_ARGS.slice(0, -1);

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A loopback port nothing listens on right now (the benchmark's, shared by the scripts and tests). */
export { freePort };

/** The port was taken by another process between freePort and the child's listen: start again on another. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    message: string,
  ) {
    super(message);
    this.name = 'PortInUseError';
  }
}

/**
 * Starts the service that `make` builds on a port freePort gives, on another port each time one turns
 * out taken (PortInUseError), up to `attempts` times.
 */
export async function startOnFreePort(
  make: (port: number) => ServiceProcess,
  { attempts = 5, timeoutMs }: { attempts?: number; timeoutMs?: number } = {},
): Promise<ServiceProcess> {
  for (let i = 1; ; i++) {
    const proc = make(await freePort());
    try {
      await proc.start(timeoutMs);
      return proc;
    } catch (err) {
      if (!(err instanceof PortInUseError) || i >= attempts) throw err;
    }
  }
}

/** Output kept in start errors: the end of it, where the reason is. */
const ERROR_TAIL_CHARS = 8000;

export class ServiceProcess {
  readonly url: string;
  /** How many times start() was called. */
  starts = 0;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Output of every run, each after a `--- start #n ---` line. */
  private log = '';

  /**
   * `env`: chainlog's variables on top of the inherited environment and NODE_ENV=test, LOG_LEVEL=warn, HOST,
   * PORT and DATA_DIR (it may override them). MONGODB_URI and MONGODB_DB are never inherited.
   */
  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly env: Record<string, string> = {},
    /** `built`: the compiled service (dist/, made by `npm run build` or the suites' global setup). */
    private readonly options: { built?: boolean } = {},
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** The output (stdout and stderr) of every run so far, or its last `tailChars` characters. */
  output(tailChars?: number): string {
    return tailChars === undefined ? this.log : this.log.slice(-tailChars);
  }

  /** Spawns the service and waits until it is ready; throws with its output if it exits or times out first. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.child) throw new Error('already running');
    const { MONGODB_URI: _u, MONGODB_DB: _d, PORT: _p, DATA_DIR: _dd, ...inherited } = process.env;
    this.starts++;
    this.log += `--- start #${this.starts} ---\n`;
    const runFrom = this.log.length;
    const entry = this.options.built ? ['dist/main.js'] : ['--import', 'tsx', 'src/main.ts'];
    const child = spawn(process.execPath, [...START_FLAGS, ...entry], {
      cwd: REPO_ROOT,
      env: {
        ...inherited,
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        PORT: String(this.port),
        DATA_DIR: this.dataDir,
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stdout.on('data', (chunk) => (this.log += chunk));
    child.stderr.on('data', (chunk) => (this.log += chunk));
    this.exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + timeoutMs;
    let answeredByAnother = false;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = null;
        const message = `chainlog exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.output(ERROR_TAIL_CHARS)}`;
        // This run's output only: an earlier run's EADDRINUSE is not this one's reason.
        throw this.log.slice(runFrom).includes('EADDRINUSE') ? new PortInUseError(this.port, message) : new Error(message);
      }
      const ok = await fetch(`${this.url}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      // Ready only when the answer is this child's: another suite's service may hold the port (freePort
      // handed it to both), and this child then exits with EADDRINUSE.
      if (ok && (await listensOn(child.pid!, this.port))) return;
      answeredByAnother ||= ok;
      if (Date.now() > deadline) {
        await this.kill();
        const why = answeredByAnother ? `another process answers on port ${this.port}` : `not ready within ${timeoutMs} ms`;
        throw new Error(`chainlog was ${why}:\n${this.output(ERROR_TAIL_CHARS)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGSTOP / SIGCONT: freeze the running process and thaw it (as a long GC pause or a VM stall would); SIGHUP: reload. */
  signal(sig: 'SIGSTOP' | 'SIGCONT' | 'SIGHUP'): void {
    this.child?.kill(sig);
  }

  /** Whether a process is running (started, not killed or stopped). */
  get running(): boolean {
    return this.child !== null;
  }

  /** SIGKILL: no shutdown hook runs, whatever was in flight is cut off. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
  }

  /** Graceful stop: SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
  }
}
