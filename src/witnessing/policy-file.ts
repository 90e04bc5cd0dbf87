// The log's witness policy (WITNESS_POLICY_FILE): a C2SP tlog-policy file (c2sp.org/tlog-policy) whose
// `witness <name> <vkey> <url>` lines are the witnesses each published checkpoint is submitted to, and
// whose `group` and `quorum` lines say which cosignatures make a checkpoint witnessed.
import { readFileSync } from 'node:fs';
import { parsePolicy, type Policy } from '../core/witness/index.js';

export class WitnessPolicyError extends Error {
  override name = 'WitnessPolicyError';
}

/**
 * Reads and checks the policy file: it parses with a quorum line, and every witness has an http(s)
 * submission prefix (requests go to `<url>/add-checkpoint`). Throws WitnessPolicyError naming the file
 * and the line.
 */
export function loadWitnessPolicy(path: string): Policy {
  const fail = (why: string): never => {
    throw new WitnessPolicyError(`WITNESS_POLICY_FILE ${path}: ${why}`);
  };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail((err as Error).message);
  }
  let policy: Policy | undefined;
  try {
    policy = parsePolicy(text, { requireQuorum: true });
  } catch (err) {
    fail((err as Error).message);
  }
  const lines = text.split('\n');
  for (const witness of policy!.witnesses) {
    const at = lines.findIndex((l) => l.trim().split(/[ \t]+/)[0] === 'witness' && l.trim().split(/[ \t]+/)[1] === witness.name);
    const where = `line ${at + 1}`;
    if (witness.url === null)
      fail(`${where}: witness ${JSON.stringify(witness.name)} has no URL, so the log cannot submit to it`);
    let url: URL | undefined;
    try {
      url = new URL(witness.url!);
    } catch {
      fail(`${where}: witness ${JSON.stringify(witness.name)} URL ${JSON.stringify(witness.url)} is not a URL`);
    }
    if (url!.protocol !== 'http:' && url!.protocol !== 'https:')
      fail(`${where}: witness ${JSON.stringify(witness.name)} URL must be http or https`);
  }
  return policy!;
}

/** Where a witness takes add-checkpoint requests: its URL is the submission prefix (c2sp.org/tlog-witness). */
export function addCheckpointUrl(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}/add-checkpoint`;
}
