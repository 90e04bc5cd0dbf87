// --policy FILE: a C2SP tlog-policy file read for an audit. It must have a quorum line (an audit against
// a policy without one would have nothing to require); errors name the option, the file and the line.
import { readFile } from 'node:fs/promises';
import { parsePolicy, PolicyError, type Policy } from '../core/index.js';

/** A usage error: the command exits 2 without auditing. */
export class PolicyFileError extends Error {
  override name = 'PolicyFileError';
}

export async function readPolicyFile(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PolicyFileError(`--policy ${path}: cannot read the file: ${(err as Error).message}`);
  }
  try {
    return parsePolicy(text, { requireQuorum: true });
  } catch (err) {
    if (err instanceof PolicyError) throw new PolicyFileError(`--policy ${path} is not a valid tlog-policy file: ${err.message}`);
    throw err;
  }
}
