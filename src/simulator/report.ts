// Human-readable progress line and summary.
import type { Summary } from './stats.js';

const ms = (x: number) => `${x.toFixed(1)}ms`;

export function progressLine(s: Summary): string {
  return (
    `${s.elapsedSeconds.toFixed(1)}s  sent ${s.sent}  accepted ${s.accepted}  rejected ${s.rejected}  ` +
    `${s.rate.toFixed(1)} ev/s  p50 ${ms(s.latencyMs.p50)}  p95 ${ms(s.latencyMs.p95)}`
  );
}

export function summaryText(s: Summary): string {
  const codes = Object.entries(s.rejectedByCode)
    .sort(([, a], [, b]) => b - a)
    .map(([code, n]) => `    ${code}: ${n}`);
  const lines = [
    'simulation summary',
    `  sent       ${s.sent} events in ${s.requests} requests over ${s.elapsedSeconds.toFixed(2)}s`,
    `  accepted   ${s.accepted} (${s.rate.toFixed(1)} events/s)`,
    `  rejected   ${s.rejected}`,
    ...codes,
    `  latency    p50 ${ms(s.latencyMs.p50)}  p95 ${ms(s.latencyMs.p95)}  p99 ${ms(s.latencyMs.p99)}  max ${ms(s.latencyMs.max)}`,
  ];
  if (s.invalid.sent > 0) {
    lines.push(
      `  invalid    ${s.invalid.sent} sent on purpose: ${s.invalid.rejected} rejected, ${s.invalid.accepted} wrongly accepted`,
    );
  }
  return lines.join('\n');
}

/** Live progress on a stream: rewrites one line in a TTY, prints a line every `everyMs` otherwise. */
export function startProgress(
  stream: NodeJS.WriteStream,
  read: () => Summary,
  everyMs = stream.isTTY ? 200 : 1000,
): { stop(): void } {
  const tty = Boolean(stream.isTTY);
  const timer = setInterval(() => {
    const line = progressLine(read());
    stream.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
  }, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      if (tty) stream.write('\r\x1b[2K');
    },
  };
}
