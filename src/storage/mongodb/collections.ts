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
  type ErasureListingDoc,
  type ErasuresAppliedDoc,
  type EventDoc,
  type IntegratedDoc,
  type LogDoc,
  type TreeNodeDoc,
} from './documents.js';

/** The insert lost to a document already holding its unique key (`_id` or a unique index). */
export const isDuplicateKey = (err: unknown) => err instanceof MongoServerError && err.code === 11000;

/** The write errors a MongoBulkWriteError carries (none when the bulk failed as a whole). */
export function writeErrorsOf(err: unknown): ReadonlyArray<{ index: number; code?: number }> {
  if (!(err instanceof MongoBulkWriteError)) return [];
  const errors = err.writeErrors as WriteError | readonly WriteError[];
  return Array.isArray(errors) ? (errors as readonly WriteError[]) : [errors as WriteError];
}

/**
 * The per-document failures of an unordered bulk the server answered (each with the index of its
 * operation), or null when the bulk failed as a whole. The driver wraps a lost connection, a
 * timeout or a command refused as a whole in a MongoBulkWriteError with no write errors: that says
 * nothing about any document (each may or may not have been written), so it is never read as
 * "every failure was a duplicate".
 */
export function perDocumentErrors(err: unknown): ReadonlyArray<{ index: number; code?: number }> | null {
  if (!(err instanceof MongoBulkWriteError) || err.writeConcernError) return null;
  const errors = writeErrorsOf(err);
  return errors.length > 0 ? errors : null;
}

/** An insertMany whose every failure was a duplicate key: the documents were there already. */
export const onlyDuplicates = (err: unknown) => perDocumentErrors(err)?.every((w) => w.code === 11000) ?? false;

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
  get erasuresApplied(): Collection<ErasuresAppliedDoc> {
    return this.collection<ErasuresAppliedDoc>(C.erasuresApplied);
  }
  get erasureListings(): Collection<ErasureListingDoc> {
    return this.collection<ErasureListingDoc>(C.erasureListings);
  }
}
