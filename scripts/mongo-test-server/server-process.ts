// Starts the test server binary and waits for its "listening <uri>" line.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface RunningServer {
  /** mongodb://host:port/ as the server reports it (the real port when asked for port 0). */
  uri: string;
  child: ChildProcess;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
}

export interface ServerOptions {
  binary: string;
  /** host:port; port 0 picks a free one. */
  listen: string;
  dataDir: string;
  /** Forward the server's stderr (its warnings) to ours. */
  inheritStderr?: boolean;
  startTimeoutMs?: number;
}

export function startServerProcess(opts: ServerOptions): Promise<RunningServer> {
  // stdin stays a pipe we never close: if this process dies, the server sees EOF and exits too.
  const child = spawn(opts.binary, ['-listen', opts.listen, '-data', opts.dataDir, '-exit-on-stdin-eof'], {
    stdio: ['pipe', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-2000);
  });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`MongoDB test server did not start within ${opts.startTimeoutMs ?? 30_000} ms\n${stderrTail}`));
    }, opts.startTimeoutMs ?? 30_000);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const m = /^listening (mongodb:\/\/\S+)$/.exec(line);
      if (!m) return;
      clearTimeout(timer);
      lines.removeAllListeners('line');
      child.stdout!.resume(); // keep draining so the server never blocks on a full pipe
      resolve({ uri: m[1]!, child, exited });
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`MongoDB test server exited at start (${signal ?? code})\n${stderrTail}`));
    });
  });
}

/** SIGTERM, then SIGKILL if it lingers. */
export async function stopServerProcess(server: RunningServer, graceMs = 5000): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  await server.exited;
  clearTimeout(timer);
}
