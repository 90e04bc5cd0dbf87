// Which engine the end-to-end suites run on: the vitest project "e2e-mongodb" provides a MongoDB
// (the FerretDB test server, see mongo-e2e-setup.ts); CHAINLOG_E2E_MONGODB_URI points at one by hand.
import { inject } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    e2eMongoUri: string;
  }
}

export function e2eMongoUri(): string | undefined {
  return process.env.CHAINLOG_E2E_MONGODB_URI || inject('e2eMongoUri') || undefined;
}

/** The engine variables of one service of these suites: none on SQLite, else MONGODB_URI and a database of its own. */
export function e2eEngineEnv(dbPrefix: string): Record<string, string> {
  const uri = e2eMongoUri();
  return uri ? { MONGODB_URI: uri, MONGODB_DB: `${dbPrefix}_${process.pid}_${Date.now().toString(36)}` } : {};
}
