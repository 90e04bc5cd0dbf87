// The time limits of the MongoDB engine's client, and how a call that ran into one is reported.
//
// Contract: with a limit T, no call of the engine waits on the database without end. Each attempt of
// an operation waits at most T to select a server (serverSelectionTimeoutMS), T for a connection
// of the pool (waitQueueTimeoutMS), T to open one (connectTimeoutMS) and T for each reply
// (socketTimeoutMS: the socket is closed and the attempt fails); a retryable read or write is
// attempted at most twice. The driver's `timeoutMS` (one budget for the whole operation) would be
// the better tool, but driver 7 accepts it and ignores it, so these per-step limits are what bounds
// a call. A failure to reach the database becomes StorageUnavailableError, which the API answers
// as UNAVAILABLE; an append's claim left in doubt is settled by batch-log.ts.
import {
  MongoBulkWriteError,
  MongoNetworkError,
  MongoOperationTimeoutError,
  MongoServerSelectionError,
  type MongoClientOptions,
} from 'mongodb';
import { StorageUnavailableError } from '../types.js';

/** The default limit T (MONGODB_TIMEOUT_MS). */
export const DEFAULT_MONGODB_TIMEOUT_MS = 30_000;

/** The client options that bound every step of an operation by `timeoutMs` (they take precedence over the same options in the URI). */
export function timeLimitOptions(timeoutMs: number): MongoClientOptions {
  return {
    serverSelectionTimeoutMS: timeoutMs,
    waitQueueTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    socketTimeoutMS: timeoutMs,
  };
}

/**
 * Whether the error says the database could not be reached or did not answer in time (rather than
 * that it refused the operation): a lost or timed-out connection, no server to select, no free
 * connection in the pool.
 */
export function isUnreachable(err: unknown): boolean {
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoOperationTimeoutError ||
    (err instanceof Error && err.name === 'MongoWaitQueueTimeoutError') ||
    // A bulk (insertMany, bulkWrite) that got no answer: the driver wraps the network error in a
    // MongoBulkWriteError with no write errors, no write concern error and no server code.
    (err instanceof MongoBulkWriteError &&
      [err.writeErrors].flat().length === 0 &&
      !err.writeConcernError &&
      err.code === undefined)
  );
}

/** The error as the engine reports it: StorageUnavailableError when the database was out of reach. */
export function reportUnreachable(err: unknown): unknown {
  if (!isUnreachable(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StorageUnavailableError(`the MongoDB database did not answer in time or could not be reached (${message})`, {
    cause: err,
  });
}

type AsyncMethodName<T> = { [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T];

/** Replaces each named method of `target` with one whose failures to reach the database reject with StorageUnavailableError. */
export function reportUnreachableFrom<T extends object>(target: T, names: readonly AsyncMethodName<T>[]): void {
  for (const name of names) {
    const method = target[name] as (...args: unknown[]) => Promise<unknown>;
    Object.defineProperty(target, name, {
      configurable: true,
      writable: true,
      value: (...args: unknown[]) =>
        method.apply(target, args).catch((err: unknown) => {
          throw reportUnreachable(err);
        }),
    });
  }
}
