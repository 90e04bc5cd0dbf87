// `logs` for a key limited to some applications: the page is walked over the key's own application
// ids (at most MAX_KEY_APPS), in the same sourceAppId order and with the same cursors as the full list.
import type { Connection } from '../graphql/connections.js';
import { decodeLogCursor, encodeLogCursor } from '../cursor.js';
import { pageSize } from '../validation/query-args.js';
import type { LogService } from '../../log/service.js';
import type { LogHead } from '../../storage/types.js';

export async function scopedLogsConnection(
  service: Pick<LogService, 'getLogHead'>,
  scope: readonly string[],
  args: { first?: number | null; after?: string | null },
): Promise<Connection<LogHead>> {
  const n = pageSize(args.first, 'first');
  const after = args.after != null ? decodeLogCursor(args.after, 'after') : null;
  const ids = [...new Set(scope)].sort().filter((id) => after === null || id > after);
  const heads: LogHead[] = [];
  for (const id of ids) {
    if (heads.length > n) break;
    const head = await service.getLogHead(id);
    if (head) heads.push(head);
  }
  const nodes = heads.slice(0, n);
  const edges = nodes.map((node) => ({ cursor: encodeLogCursor(node.sourceAppId), node }));
  return {
    edges,
    nodes,
    pageInfo: {
      hasNextPage: heads.length > n,
      hasPreviousPage: after !== null,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}
