// A small real HTTP witness that misbehaves on purpose, for the log side's failure paths: it answers
// add-checkpoint requests as its current mode says (hang, a given status, a bogus or foreign
// cosignature, an endless answer, or a 409 before it cosigns properly), and records what it was sent.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createCosigner,
  parseAddCheckpointBody,
  type AddCheckpointRequest,
  type Cosigner,
} from '../../src/core/witness/index.js';

export type HostileMode =
  | { kind: 'cosign' }
  | { kind: 'hang' }
  | { kind: 'status'; status: number; body?: string }
  | { kind: 'bogus' }
  | { kind: 'foreign' }
  | { kind: 'future'; seconds: number }
  | { kind: 'endless' }
  | { kind: 'conflict-then-cosign'; size: number }
  /** Holds each answer until `openGate()`, then cosigns: requests stay in flight as long as the test wants. */
  | { kind: 'gate' };

export class HostileWitness {
  readonly cosigner: Cosigner;
  /** Signs like this witness, under the same name, with another key. */
  private readonly impostor: Cosigner;
  readonly requests: AddCheckpointRequest[] = [];
  mode: HostileMode = { kind: 'cosign' };
  private server: Server | null = null;
  private readonly hanging = new Set<() => void>();
  private readonly gated: Array<() => void> = [];
  /** Requests received and not yet answered. */
  inFlight = 0;
  /** The most requests that were in flight at once. */
  maxInFlight = 0;
  url = '';

  constructor(readonly name: string) {
    this.cosigner = createCosigner(name, generateKeyPairSync('ed25519').privateKey);
    this.impostor = createCosigner(name, generateKeyPairSync('ed25519').privateKey);
  }

  get vkey(): string {
    return this.cosigner.verifierKey;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const parsed = parseAddCheckpointBody(Buffer.concat(chunks).toString('utf8'));
        this.requests.push(parsed);
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        res.on('close', () => this.inFlight--);
        const body = parsed.note.slice(0, parsed.note.indexOf('\n\n') + 1);
        const now = Math.floor(Date.now() / 1000);
        const mode = this.mode;
        switch (mode.kind) {
          case 'cosign':
            return void res.writeHead(200, { 'content-type': 'text/plain' }).end(this.cosigner.cosign(body, now));
          case 'hang':
            // Never answers: the log's request timeout must end it.
            return void this.hanging.add(() => res.destroy());
          case 'status':
            return void res.writeHead(mode.status, { 'content-type': 'text/plain' }).end(mode.body ?? `status ${mode.status}\n`);
          case 'bogus': {
            // Its own key's line, over another checkpoint body: the signature does not verify.
            return void res
              .writeHead(200, { 'content-type': 'text/plain' })
              .end(this.cosigner.cosign(body.replace(/\n$/, ' tampered\n'), now));
          }
          case 'future':
            // Its own key, a valid signature, a timestamp ahead of the clock.
            return void res.writeHead(200, { 'content-type': 'text/plain' }).end(this.cosigner.cosign(body, now + mode.seconds));
          case 'foreign':
            return void res.writeHead(200, { 'content-type': 'text/plain' }).end(this.impostor.cosign(body, now));
          case 'endless': {
            res.writeHead(200, { 'content-type': 'text/plain' });
            const line = `${'x'.repeat(1023)}\n`;
            const pump = () => {
              while (res.write(line));
              if (!res.destroyed) res.once('drain', pump);
            };
            res.on('close', () => res.removeAllListeners('drain'));
            return void pump();
          }
          case 'gate':
            return void this.gated.push(() =>
              res.writeHead(200, { 'content-type': 'text/plain' }).end(this.cosigner.cosign(body, now)),
            );
          case 'conflict-then-cosign':
            if (parsed.oldSize !== mode.size)
              return void res.writeHead(409, { 'content-type': 'text/x.tlog.size' }).end(`${mode.size}\n`);
            return void res.writeHead(200, { 'content-type': 'text/plain' }).end(this.cosigner.cosign(body, now));
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/witness`;
  }

  /** Answers every request the gate holds (cosigned); later ones are held again while the mode is `gate`. */
  openGate(): void {
    for (const answer of this.gated.splice(0)) answer();
  }

  async stop(): Promise<void> {
    this.gated.length = 0;
    for (const end of this.hanging) end();
    this.hanging.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
