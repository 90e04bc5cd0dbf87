// Stored tree nodes read where some may be missing: a store damaged or tampered with keeps serving the
// nodes it has, and its callers (an audit page's nodes, verifyLog) name the ones it lacks.
import type { NodeId } from '../core/compact/node.js';
import { MissingTreeNodeError, type LogStorage } from '../storage/types.js';

const missingAsNull = (err: unknown): null => {
  if (err instanceof MissingTreeNodeError) return null;
  throw err;
};

/**
 * The hashes of `ids` in order, null where a node is not stored (MissingTreeNodeError): one read, and
 * only when that fails for a missing node, one read per node to find which. Any other error of the
 * store (unreachable, timed out) is thrown, never taken for a missing node.
 */
export async function readNodesOrNull(
  storage: LogStorage,
  sourceAppId: string,
  ids: NodeId[],
): Promise<Array<Uint8Array | null>> {
  try {
    return await storage.getTreeNodes(sourceAppId, ids);
  } catch (err) {
    missingAsNull(err);
    return Promise.all(ids.map((id) => storage.getTreeNodes(sourceAppId, [id]).then(([h]) => h!, missingAsNull)));
  }
}
