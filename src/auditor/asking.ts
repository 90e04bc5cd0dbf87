// How the audit asks the service: a query whose failure is a finding about the server (ask), one the
// audit cannot go on without (must), and the refusals that end it (AuditAbort: exit code 2).
import { finding, type Finding } from './findings.js';
import { ConnectionError, GraphqlError, ResponseShapeError } from './graphql-client.js';

/** A condition to report as exit code 2: the audit could not run, which says nothing about the log. */
export class AuditAbort extends Error {
  override name = 'AuditAbort';
}

const REFUSALS = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED']);

/** What to do about a refused key: the proofs need an auditor (or admin) key. */
export function refusalHint(err: GraphqlError): string {
  if (err.code === 'FORBIDDEN' && err.rule === 'role') {
    return '. verify needs an AUDITOR API key (or ADMIN) for the proofs: set CHAINLOG_API_KEY to one (an admin creates it with createApiKey(role: AUDITOR))';
  }
  if (err.code === 'UNAUTHENTICATED') return '. verify needs an AUDITOR API key: set CHAINLOG_API_KEY to one';
  return '';
}

/** Runs a proof query; a server that refuses or garbles it earns a finding, a dead connection aborts. */
export async function ask<T>(run: () => Promise<T>, seq: number, what: string, findings: Finding[]): Promise<T | null> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof GraphqlError && err.code !== null && REFUSALS.has(err.code))
      throw new AuditAbort(`${what}: ${err.message}${refusalHint(err)}`);
    if (err instanceof GraphqlError && err.code === 'MALFORMED_EVENT')
      findings.push(finding('MALFORMED_EVENT', seq, `${what}: ${err.message}`));
    else if (err instanceof GraphqlError) findings.push(finding('PROOF_UNAVAILABLE', seq, `${what}: ${err.message}`));
    else if (err instanceof ResponseShapeError) findings.push(finding('MALFORMED_RESPONSE', seq, `${what}: ${err.message}`));
    else throw err;
    return null;
  }
}

/** Queries the audit cannot start without: any failure is an abort. */
export async function must<T>(run: () => Promise<T>, what: string): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ConnectionError || err instanceof GraphqlError || err instanceof ResponseShapeError) {
      throw new AuditAbort(`${what}: ${err.message}${err instanceof GraphqlError ? refusalHint(err) : ''}`);
    }
    throw err;
  }
}
