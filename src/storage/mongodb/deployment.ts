// What kind of MongoDB we are connected to, and what that lets the engine rely on.
import type { Db, ReadConcernLevel, WriteConcernSettings } from 'mongodb';

export type Topology = 'sharded' | 'replicaSet' | 'standalone';

export interface Deployment {
  topology: Topology;
  /** FerretDB answers buildInfo with `ferretdbVersion`; it picks the default writeConcurrency (MongoStorage). */
  ferretdb: boolean;
  /** The write concern appends use: acknowledged must mean durable. */
  writeConcern: WriteConcernSettings;
  /**
   * The read concern of every read: 'majority' where there is a majority, so a writer only builds on
   * batches that no election can roll back; a standalone has nothing else.
   */
  readConcern: ReadConcernLevel;
}

export async function detectDeployment(db: Db): Promise<Deployment> {
  const admin = db.admin();
  const hello = await admin.command({ hello: 1 });
  const build = await admin.command({ buildInfo: 1 }).catch(() => ({}));
  return deploymentOf(hello, build);
}

/** The deployment a server's `hello` and `buildInfo` answers describe. */
export function deploymentOf(hello: Record<string, unknown>, build: Record<string, unknown>): Deployment {
  const topology: Topology =
    hello.msg === 'isdbgrid' ? 'sharded' : typeof hello.setName === 'string' ? 'replicaSet' : 'standalone';
  return {
    topology,
    ferretdb: 'ferretdbVersion' in build,
    // A standalone has no majority to wait for; the journal is its durability.
    writeConcern: topology === 'standalone' ? { w: 1, journal: true } : { w: 'majority', journal: true },
    readConcern: topology === 'standalone' ? 'local' : 'majority',
  };
}
