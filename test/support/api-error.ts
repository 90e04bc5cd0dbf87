// For unit tests of what the API refuses: the ApiError a call throws.
import { expect } from 'vitest';
import { ApiError } from '../../src/api/errors.js';

/** Calls `fn`, which must throw an ApiError, and returns it. */
export function rejection(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  }
  throw new Error('expected a rejection');
}
