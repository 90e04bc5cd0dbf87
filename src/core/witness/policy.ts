// C2SP tlog-policy files (c2sp.org/tlog-policy): `log <vkey> [<url>]`, `witness <name> <vkey> [<url>]`,
// `group <name> <k|any|all> <member>...` and `quorum <name>` lines; whitespace is spaces and tabs,
// `#` starts a comment line. A witness reads the `log` lines of such a file (its quorum is optional
// there); a log submitting to witnesses reads the rest.
import { equalBytes } from '../bytes.js';
import { NoteError, parseVerifierKey, type NoteVerifier } from '../note/signed-note.js';
import { CosignatureError, parseWitnessVerifierKey, type CosignatureVerifier } from './cosignature.js';

export interface PolicyLog {
  /** The vkey's key name. */
  origin: string;
  verifier: NoteVerifier;
  vkey: string;
  url: string | null;
}

export interface PolicyWitness {
  name: string;
  verifier: CosignatureVerifier;
  vkey: string;
  url: string | null;
}

export interface PolicyGroup {
  name: string;
  threshold: number;
  members: string[];
}

export interface Policy {
  logs: PolicyLog[];
  witnesses: PolicyWitness[];
  groups: PolicyGroup[];
  /** The quorum's witness or group name, 'none', or null when the file has no quorum line. */
  quorum: string | null;
}

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

// tlog-policy: tab and newline are the only control characters allowed.
const BAD_CHAR_RE = /[\x00-\x08\x0b-\x1f\x7f]/;

export function parsePolicy(text: string, opts: { requireQuorum?: boolean } = {}): Policy {
  const policy: Policy = { logs: [], witnesses: [], groups: [], quorum: null };
  const names = new Set<string>();
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  lines.forEach((raw, i) => {
    const n = i + 1;
    if (BAD_CHAR_RE.test(raw)) throw new PolicyError(n, 'control character (only tab and newline are allowed)');
    const fields = raw.split(/[ \t]+/).filter((f) => f !== '');
    if (fields.length === 0 || fields[0]!.startsWith('#')) return;
    const [keyword, ...args] = fields as [string, ...string[]];
    switch (keyword) {
      case 'log': {
        if (args.length < 1 || args.length > 2) throw new PolicyError(n, 'want "log <vkey> [<url>]"');
        let verifier: NoteVerifier;
        try {
          verifier = parseVerifierKey(args[0]!);
        } catch (err) {
          if (err instanceof NoteError) throw new PolicyError(n, `log key: ${err.message}`);
          throw err;
        }
        // One key may sign several logs, each under its origin as key name (chainlog's logs do): a
        // duplicate is the same key for the same origin.
        if (policy.logs.some((l) => l.origin === verifier.name && equalBytes(l.verifier.publicKey, verifier.publicKey)))
          throw new PolicyError(n, 'duplicate log key');
        policy.logs.push({ origin: verifier.name, verifier, vkey: args[0]!, url: args[1] ?? null });
        return;
      }
      case 'witness': {
        if (args.length < 2 || args.length > 3) throw new PolicyError(n, 'want "witness <name> <vkey> [<url>]"');
        const name = args[0]!;
        defineName(n, name);
        let verifier: CosignatureVerifier;
        try {
          verifier = parseWitnessVerifierKey(args[1]!);
        } catch (err) {
          if (err instanceof CosignatureError || err instanceof NoteError)
            throw new PolicyError(n, `witness key: ${err.message}`);
          throw err;
        }
        if (policy.witnesses.some((w) => equalBytes(w.verifier.publicKey, verifier.publicKey)))
          throw new PolicyError(n, 'duplicate witness key');
        policy.witnesses.push({ name, verifier, vkey: args[1]!, url: args[2] ?? null });
        return;
      }
      case 'group': {
        if (args.length < 3) throw new PolicyError(n, 'want "group <name> <k|any|all> <member>..."');
        const [name, k, ...members] = args as [string, string, ...string[]];
        for (const m of members) {
          if (m === 'none' || !names.has(m))
            throw new PolicyError(n, `group member ${JSON.stringify(m)} is not a witness or group defined above`);
        }
        if (new Set(members).size !== members.length) throw new PolicyError(n, 'a group lists each member at most once');
        const threshold = k === 'any' ? 1 : k === 'all' ? members.length : /^[1-9][0-9]*$/.test(k) ? Number(k) : NaN;
        if (!(threshold >= 1 && threshold <= members.length))
          throw new PolicyError(n, `group threshold ${JSON.stringify(k)} must be any, all or 1 to ${members.length}`);
        defineName(n, name);
        policy.groups.push({ name, threshold, members });
        return;
      }
      case 'quorum': {
        if (args.length !== 1) throw new PolicyError(n, 'want "quorum <name>"');
        if (policy.quorum !== null) throw new PolicyError(n, 'a policy has exactly one quorum line');
        if (args[0] !== 'none' && !names.has(args[0]!))
          throw new PolicyError(n, `quorum ${JSON.stringify(args[0])} is not a witness or group defined above`);
        policy.quorum = args[0]!;
        return;
      }
      default:
        throw new PolicyError(n, `unknown keyword ${JSON.stringify(keyword)} (want log, witness, group or quorum)`);
    }
  });
  if (opts.requireQuorum && policy.quorum === null) throw new PolicyError(lines.length, 'the policy has no quorum line');
  return policy;

  function defineName(n: number, name: string): void {
    if (name === 'none') throw new PolicyError(n, 'the name "none" is predefined');
    if (names.has(name)) throw new PolicyError(n, `name ${JSON.stringify(name)} is defined twice`);
    names.add(name);
  }
}

/** The trusted log keys of every origin in a policy's `log` lines (one origin may have several). */
export function logVerifiersByOrigin(policy: Policy): Map<string, NoteVerifier[]> {
  const byOrigin = new Map<string, NoteVerifier[]>();
  for (const log of policy.logs) byOrigin.set(log.origin, [...(byOrigin.get(log.origin) ?? []), log.verifier]);
  return byOrigin;
}
