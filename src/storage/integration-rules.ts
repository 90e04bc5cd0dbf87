// The rules every engine's `integrate` checks before it writes (LogStorage.integrate in types.ts): one
// definition, so both engines refuse the same calls with the same words. Free of I/O: the SQLite writer
// thread imports it too.

/**
 * Why a checkpoint handed to `integrate(sourceAppId, …, toSize, …, checkpoint)` cannot be stored in the
 * same write: it must be the log's own checkpoint at exactly `toSize`. Undefined when it can.
 */
export function checkpointMismatch(
  sourceAppId: string,
  toSize: number,
  checkpointLog: string,
  checkpointSize: number,
): Error | undefined {
  if (checkpointLog === sourceAppId && checkpointSize === toSize) return undefined;
  return new Error(
    `integrate: the checkpoint of log ${checkpointLog} at size ${checkpointSize} is not of ${sourceAppId} at ${toSize}`,
  );
}

/** The error of an integration that starts past the stored tree (`integrated < fromSize`): it would leave a gap. */
export function integrationGap(sourceAppId: string, integrated: number, fromSize: number): Error {
  return new Error(`integrate: log ${sourceAppId} is integrated to ${integrated}, below ${fromSize}; a gap would be left`);
}

/**
 * Why the nodes handed to `integrate` cannot be stored: a node's hash is a SHA-256 output, 32 bytes,
 * and one of another length (a bug of the caller's) would be stored as the log's tree and served in
 * proofs. Undefined when every node's can.
 */
export function nodeHashMismatch(nodes: ReadonlyArray<{ level: number; index: number; hash: Uint8Array }>): Error | undefined {
  const bad = nodes.find((n) => n.hash.length !== 32);
  if (bad === undefined) return undefined;
  return new Error(`integrate: node hash must be 32 bytes, got ${bad.hash.length} for node (${bad.level}, ${bad.index})`);
}
