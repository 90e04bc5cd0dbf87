// A real HTTP proxy in front of a real chainlog server, for auditor CLI tests: every request goes through to
// the server; a test may rewrite the served latest checkpoint (add cosignatures, serve an old one) and
// withhold the consistency proof, as a lying server or a server in front of a witness would.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Cosigner } from '../../src/core/index.js';
import { forward, wholeBodyServer } from '../support/forward.js';

/** `checkpoint(sourceAppId) { note treeSize rootHash }` as the server answers it. */
export interface ServedCheckpoint {
  note: string;
  treeSize: number;
  rootHash: string;
}

export interface CheckpointProxy {
  url: string;
  /** Rewrites the served latest checkpoint; identity by default. */
  checkpoint: (served: ServedCheckpoint) => ServedCheckpoint;
  /** How the consistency proof is withheld: a GraphQL error with this code, or 'drop' (the connection is cut). */
  withholdConsistency: string | null;
  /** Consistency proof queries seen. */
  consistencyRequests: number;
  close(): Promise<void>;
}

export async function startCheckpointProxy(upstream: string): Promise<CheckpointProxy> {
  const proxy: CheckpointProxy = {
    url: '',
    checkpoint: (served) => served,
    withholdConsistency: null,
    consistencyRequests: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = wholeBodyServer(async (req, res, body) => {
    const query =
      req.url === '/graphql' && req.method === 'POST' ? String((JSON.parse(body.toString()) as { query?: unknown }).query) : '';
    if (query.includes('consistencyProof(')) {
      proxy.consistencyRequests++;
      if (proxy.withholdConsistency === 'drop') {
        req.socket.destroy();
        return;
      }
      if (proxy.withholdConsistency !== null) {
        const refusal = { errors: [{ message: 'refused by the server', extensions: { code: proxy.withholdConsistency } }] };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(refusal));
        return;
      }
    }
    const up = await forward(upstream, req, body);
    let text = await up.text();
    if (query.includes('checkpoint(sourceAppId')) {
      const answer = JSON.parse(text) as { data?: { checkpoint?: ServedCheckpoint | null } };
      if (answer.data?.checkpoint) {
        answer.data.checkpoint = proxy.checkpoint(answer.data.checkpoint);
        text = JSON.stringify(answer);
      }
    }
    res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

/** The checkpoint body of a signed note: its text up to and including the line before the signatures. */
export const noteBody = (note: string) => note.slice(0, note.indexOf('\n\n') + 1);

/** `served` with cosignature lines of `cosigners` at `timestamp` (POSIX seconds) appended, as a witness returns them. */
export function cosigned(served: ServedCheckpoint, cosigners: readonly Cosigner[], timestamp: number): ServedCheckpoint {
  const lines = cosigners.map((c) => c.cosign(noteBody(served.note), timestamp)).join('');
  return { ...served, note: `${served.note}${lines}` };
}

/** A cosignature line of `cosigner` whose timestamp was moved after signing (to look fresh): it no longer verifies. */
export function forgedCosignature(served: ServedCheckpoint, cosigner: Cosigner, signedAt: number, claimed: number): string {
  const line = cosigner.cosign(noteBody(served.note), signedAt);
  const [prefix, b64] = [line.slice(0, line.lastIndexOf(' ') + 1), line.slice(line.lastIndexOf(' ') + 1, -1)];
  const blob = Buffer.from(b64, 'base64');
  blob.writeBigUInt64BE(BigInt(claimed), 4);
  return `${prefix}${blob.toString('base64')}\n`;
}
