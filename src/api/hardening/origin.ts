// Browser-borne requests to a server on a developer's machine. Two checks:
// - Host (DNS rebinding): a server bound to a loopback address answers only requests whose Host names
//   loopback (localhost, 127.x.x.x, [::1], with any port: a local proxy in front keeps its own) or one of
//   ALLOWED_HOSTS; a page on evil.example whose name is rebound to 127.0.0.1 still sends `Host: evil.example`.
// - Origin (cross-site WebSocket hijacking): browsers send Origin on every WebSocket upgrade and a page may
//   open a socket to any server; the upgrade is accepted only from the server's own origin (the Origin's
//   host equals the Host header) or one of ALLOWED_ORIGINS. A client without Origin (not a browser) passes.
import type { IncomingMessage } from 'node:http';

export interface OriginPolicySettings {
  /** The address the server binds (HOST). */
  bindHost: string;
  /** Lowercase scheme://host[:port] values. */
  allowedOrigins: readonly string[];
  /** Lowercase host[:port] values. */
  allowedHosts: readonly string[];
}

export interface OriginPolicy {
  /** Whether the Host header is refused (only ever when bound to loopback); the reason if so. */
  refusedHost(req: IncomingMessage): string | undefined;
  /** Whether a WebSocket upgrade's Origin is refused; the reason if so. */
  refusedOrigin(req: IncomingMessage): string | undefined;
}

const LOOPBACK_NAMES = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

export const isLoopback = (bindHost: string) =>
  bindHost === 'localhost' || bindHost === '::1' || /^127(?:\.\d{1,3}){3}$/.test(bindHost);

/** host[:port] split, IPv6 literals kept in brackets. */
function splitHost(value: string): { name: string; port: string | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(value);
  return m ? { name: m[1]!, port: m[2] } : { name: value, port: undefined };
}

export function createOriginPolicy(settings: OriginPolicySettings): OriginPolicy {
  const loopback = isLoopback(settings.bindHost);
  const hosts = new Set(settings.allowedHosts);
  const origins = new Set(settings.allowedOrigins);
  return {
    refusedHost(req) {
      if (!loopback) return undefined;
      const host = req.headers.host?.toLowerCase();
      if (!host) return 'a Host header is required';
      if (hosts.has(host)) return undefined;
      if (LOOPBACK_NAMES.test(splitHost(host).name)) return undefined;
      return `Host ${host} is not this server's (it listens on loopback); add it to ALLOWED_HOSTS to allow it`;
    },
    refusedOrigin(req) {
      const origin = req.headers.origin?.toLowerCase();
      if (origin === undefined) return undefined;
      if (origins.has(origin)) return undefined;
      let originHost: string | undefined;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = undefined;
      }
      if (originHost !== undefined && originHost !== '' && originHost === req.headers.host?.toLowerCase()) return undefined;
      return `Origin ${origin} may not open a WebSocket here; add it to ALLOWED_ORIGINS to allow it`;
    },
  };
}
