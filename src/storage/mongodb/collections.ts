// Document access of the MongoDB engine: the engine's collections, each opened with the read and
// write concerns the deployment calls for, and how a write's failure is told apart.
//
// Contract: every read and write of the engine's own documents goes through these handles, so none
// can forget the concerns (majority on a replica set or sharded cluster, see deployment.ts). This
// module decides nothing: which insert commits an append is the claim protocol's (batch-log.ts),
// who waits for whom is the coordination's (coordination.ts).
import { MongoBulkWriteError, MongoServerError, type Collection, type Db, type WriteError } from 'mongodb';
import type { Deployment } from './deployment.js';
import {
  collectionNames as C,
  type BatchBodyDoc,
  type BatchDoc,
  type CheckpointDoc,
  type CheckpointNoteDoc,
  type EventDoc,
  type IntegratedDoc,
  type LogDoc,
  type TreeNodeDoc,
} from './documents.js';

/** The insert lost to a document already holding its unique key (`_id` or a unique index). */
export const isDuplicateKey = (err: unknown) => err instanceof MongoServerError && err.code === 11000;

/** The per-document failures of an unordered bulk (each with the index of its operation); none for other errors. */
export function writeErrorsOf(err: unknown): ReadonlyArray<{ index: number; code?: number }> {
  if (!(err instanceof MongoBulkWriteError)) return [];
  const errors = err.writeErrors as WriteError | readonly WriteError[];
  return Array.isArray(errors) ? (errors as readonly WriteError[]) : [errors as WriteError];
}

/** An insertMany whose every failure was a duplicate key: the documents were there already. */
export const onlyDuplicates = (err: unknown) =>
  err instanceof MongoBulkWriteError && writeErrorsOf(err).every((w) => w.code === 11000) && !err.writeConcernError;

export class MongoCollections {
  constructor(
    private readonly db: Db,
    readonly deployment: Deployment,
  ) {}

  /** A collection with the deployment's read and write concerns. */
  collection<T extends object>(name: string): Collection<T> {
    const { writeConcern, readConcern } = this.deployment;
    return this.db.collection<T>(name, { writeConcern, readConcern: { level: readConcern } });
  }
  get events(): Collection<EventDoc> {
    return this.collection<EventDoc>(C.events);
  }
  get batches(): Collection<BatchDoc> {
    return this.collection<BatchDoc>(C.batches);
  }
  get batchBodies(): Collection<BatchBodyDoc> {
    return this.collection<BatchBodyDoc>(C.batchBodies);
  }
  get logs(): Collection<LogDoc> {
    return this.collection<LogDoc>(C.logs);
  }
  get treeNodes(): Collection<TreeNodeDoc> {
    return this.collection<TreeNodeDoc>(C.treeNodes);
  }
  get checkpoints(): Collection<CheckpointDoc> {
    return this.collection<CheckpointDoc>(C.checkpoints);
  }
  get checkpointNotes(): Collection<CheckpointNoteDoc> {
    return this.collection<CheckpointNoteDoc>(C.checkpointNotes);
  }
  get integrated(): Collection<IntegratedDoc> {
    return this.collection<IntegratedDoc>(C.integrated);
  }
}
