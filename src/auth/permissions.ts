// Who may do what. The roles matrix (also in README "Authentication"):
//
//   operation                                             writer    reader    auditor   admin
//   serverInfo, witnesses                                 yes       yes       yes       yes
//   events, event, log, logs, checkpoint,                 own apps  scoped    scoped    yes
//     eventLogged, checkpointPublished, receipt,
//     GET /tlog/... (tiles), GET /v1/events/.../receipt
//   logEvent, logEvents, POST /v1/events                  own apps  -         -         yes
//   inclusionProof, consistencyProof, rangeProof,
//     verifyLog, erasureRecords                           -         -         scoped    yes
//   inconsistencies, inconsistencyDetected                -         -         scoped    yes
//   publishCheckpoints                                    -         -         -         yes
//   eraseEvents                                           -         -         -         yes
//   createApiKey, apiKeys, revokeApiKey                   -         -         -         yes
//   GET /metrics                                          -         -         -         yes (or METRICS_TOKEN)
//
// "own apps": a writer key always names its sourceAppIds. "scoped": a reader or auditor key may name
// sourceAppIds; then it sees those applications only. Root fields not listed here are refused to
// everyone but admin, so a new field is closed until someone decides who may use it.
import type { ApiKeyRole } from '../storage/api-key-store.js';

export type Permission = 'info' | 'read' | 'ingest' | 'prove' | 'checkpoint' | 'manageKeys' | 'erase';

export type OperationKind = 'query' | 'mutation' | 'subscription';

const ROOT_FIELDS: Record<OperationKind, Record<string, Permission>> = {
  query: {
    __typename: 'info',
    __schema: 'info',
    __type: 'info',
    serverInfo: 'info',
    witnesses: 'info',
    events: 'read',
    event: 'read',
    log: 'read',
    logs: 'read',
    checkpoint: 'read',
    receipt: 'read',
    inclusionProof: 'prove',
    consistencyProof: 'prove',
    rangeProof: 'prove',
    verifyLog: 'prove',
    erasureRecords: 'prove',
    inconsistencies: 'prove',
    apiKeys: 'manageKeys',
  },
  mutation: {
    __typename: 'info',
    logEvent: 'ingest',
    logEvents: 'ingest',
    publishCheckpoints: 'checkpoint',
    eraseEvents: 'erase',
    createApiKey: 'manageKeys',
    revokeApiKey: 'manageKeys',
  },
  subscription: {
    eventLogged: 'read',
    checkpointPublished: 'read',
    inconsistencyDetected: 'prove',
  },
};

export const ROLE_PERMISSIONS: Record<ApiKeyRole, ReadonlySet<Permission>> = {
  writer: new Set(['info', 'read', 'ingest']),
  reader: new Set(['info', 'read']),
  auditor: new Set(['info', 'read', 'prove']),
  admin: new Set(['info', 'read', 'ingest', 'prove', 'checkpoint', 'manageKeys', 'erase']),
};

/** The permission a root field needs, or undefined for a field nobody but admin may use. */
export const permissionFor = (kind: OperationKind, field: string): Permission | undefined => ROOT_FIELDS[kind][field];

export function roleMay(role: ApiKeyRole, kind: OperationKind, field: string): boolean {
  if (role === 'admin') return true;
  const needed = permissionFor(kind, field);
  return needed !== undefined && ROLE_PERMISSIONS[role].has(needed);
}
