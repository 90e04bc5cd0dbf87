// --policy and --max-age: the checkpoint's cosignatures against a C2SP tlog-policy. Which policy witnesses
// cosigned and whether they make up the quorum is the core's verifyWitnessedNote; this turns its answer
// into findings that say who cosigned, what the quorum needs and how old the newest cosignature is.
import { CosignatureError, NoteError, verifyWitnessedNote, type NoteVerifier, type Policy } from '../core/index.js';
import { finding, type Finding } from './findings.js';

export interface WitnessReport {
  /** The policy's quorum: a witness or group name, or `none`. */
  quorum: string;
  /** What the quorum needs, in words: `2 of [w1, w2]`. */
  needs: string;
  met: boolean;
  /** The verified cosignatures of policy witnesses; `timestamp` in POSIX seconds, `time` the same in ISO 8601. */
  cosignatures: Array<{ witness: string; timestamp: number; time: string }>;
  /** The newest cosignature's time (ISO 8601), null without any. */
  newest: string | null;
  /** --max-age in seconds, null when not given. */
  maxAgeSeconds: number | null;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();

/** What `name` (a witness, a group or `none`) needs to be satisfied, in words. */
export function describeQuorum(policy: Policy, name: string): string {
  const group = policy.groups.find((g) => g.name === name);
  if (name === 'none') return 'no cosignature (quorum none)';
  if (group === undefined) return name;
  const member = (m: string) => (policy.groups.some((g) => g.name === m) ? `${m} (${describeQuorum(policy, m)})` : m);
  return `${group.threshold} of [${group.members.map(member).join(', ')}]`;
}

export interface WitnessCheck {
  report: WitnessReport | null;
  findings: Finding[];
}

/**
 * The cosignatures on `note` (already opened with `logVerifiers`) against `policy`, and with
 * `maxAgeSeconds` the age of the newest one at `nowMs`. A forged cosignature of a policy witness
 * refuses the note (BAD_COSIGNATURE); a missing quorum is NO_QUORUM; an old one STALE_CHECKPOINT.
 * `subject` names the checkpoint in the findings' messages.
 */
export function checkWitnesses(
  note: string,
  size: number,
  logVerifiers: readonly NoteVerifier[],
  policy: Policy,
  maxAgeSeconds: number | null,
  nowMs: number,
  subject = 'the checkpoint',
): WitnessCheck {
  const quorum = policy.quorum ?? 'none';
  const needs = describeQuorum(policy, quorum);
  let witnessed: ReturnType<typeof verifyWitnessedNote>;
  try {
    witnessed = verifyWitnessedNote(note, logVerifiers, policy);
  } catch (err) {
    if (!(err instanceof CosignatureError || err instanceof NoteError)) throw err;
    const kind = err instanceof CosignatureError ? 'BAD_COSIGNATURE' : 'BAD_SIGNATURE';
    const msg = `${subject} of size ${size} carries a cosignature line under the key of a policy witness that does not verify (${err.message}): a forged or altered cosignature refuses the checkpoint`;
    return { report: null, findings: [finding(kind, null, kind === 'BAD_COSIGNATURE' ? msg : err.message)] };
  }
  const cosignatures = witnessed.cosignatures.map((c) => ({
    witness: c.witness,
    timestamp: c.timestamp,
    time: iso(c.timestamp),
  }));
  const newest = cosignatures.reduce<(typeof cosignatures)[number] | null>(
    (a, c) => (a === null || c.timestamp > a.timestamp ? c : a),
    null,
  );
  const report: WitnessReport = {
    quorum,
    needs,
    met: witnessed.quorum,
    cosignatures,
    newest: newest?.time ?? null,
    maxAgeSeconds,
  };
  const findings: Finding[] = [];
  const who = cosignatures.length === 0 ? 'no policy witness' : cosignatures.map((c) => c.witness).join(', ');
  if (!witnessed.quorum) {
    findings.push(
      finding(
        'NO_QUORUM',
        null,
        `${subject} of size ${size} is cosigned by ${who}; the policy's quorum ${JSON.stringify(quorum)} needs ${needs}`,
      ),
    );
  }
  if (maxAgeSeconds !== null) {
    const now = Math.floor(nowMs / 1000);
    if (newest === null) {
      findings.push(
        finding(
          'STALE_CHECKPOINT',
          null,
          `${subject} of size ${size} has no cosignature by a policy witness, so nothing shows it is recent (--max-age ${maxAgeSeconds} s, now ${iso(now)})`,
        ),
      );
    } else if (now - newest.timestamp > maxAgeSeconds) {
      findings.push(
        finding(
          'STALE_CHECKPOINT',
          null,
          `the newest cosignature of ${subject} of size ${size} by a policy witness (${newest.witness}) is from ${newest.time}, ` +
            `${now - newest.timestamp} s before now (${iso(now)}); --max-age allows ${maxAgeSeconds} s: ` +
            'the server may be serving an old checkpoint to hide newer events',
        ),
      );
    }
  }
  return { report, findings };
}
