// C2SP tlog-tiles of each log, read from the stored tree nodes and events (c2sp.org/tlog-tiles). A tile
// is served once the latest checkpoint covers every leaf it needs, so whatever a verified checkpoint
// requires exists. A full tile never changes: it is computed once and kept in a cache bounded in
// bytes; a partial tile (at most 255 hashes or entries) is computed on each request.
import { LRUCache } from 'lru-cache';
import { formatTime, leafBytes } from '../core/leaf.js';
import {
  encodeEntryBundle,
  firstNodeIndex,
  formatTilePath,
  leavesCovered,
  MAX_ENTRY_BYTES,
  TILE_WIDTH,
  treeLevelOf,
  type TileCoordinate,
} from '../core/tiles.js';
import type { LogStorage, StoredEvent } from '../storage/types.js';
import { LogError, notFound } from './errors.js';

export const DEFAULT_TILE_CACHE_BYTES = 32 * 1024 * 1024;

/** The leaf bytes of a stored event: core's leafBytes of its fields. */
export const storedLeafBytes = (e: StoredEvent): Uint8Array =>
  leafBytes({
    sourceAppId: e.sourceAppId,
    seq: e.seq,
    prevHash: e.prevHash,
    eventType: e.eventType,
    timestamp: formatTime(e.timestamp),
    receivedAt: formatTime(e.receivedAt),
    payload: e.payload,
    payloadHash: e.payloadHash ?? null,
  });

export interface Tile {
  bytes: Uint8Array;
  /** A full tile (256 hashes or entries): immutable. */
  full: boolean;
}

export class TileSource {
  private readonly cache: LRUCache<string, Uint8Array>;

  constructor(
    private readonly storage: Pick<LogStorage, 'getCheckpoint' | 'getTreeNodes' | 'getEventRange'>,
    cacheBytes: number = DEFAULT_TILE_CACHE_BYTES,
  ) {
    // lru-cache needs a positive bound; a cache of 0 bytes keeps nothing.
    this.cache = new LRUCache({ maxSize: Math.max(1, cacheBytes), sizeCalculation: (b) => Math.max(1, b.length) });
  }

  /** The latest checkpoint note of the log; NOT_FOUND when it has none. */
  async checkpoint(sourceAppId: string): Promise<string> {
    const latest = await this.storage.getCheckpoint(sourceAppId);
    if (!latest) throw notFound(`log "${sourceAppId}" has no checkpoint yet`, 'sourceAppId');
    return latest.note;
  }

  /**
   * A tile or entry bundle. NOT_FOUND when the log has no checkpoint, or the latest checkpoint does not
   * cover the tile (it may exist later), or a leaf of the bundle is too long for one (an event stored
   * before leaves were bounded).
   */
  async read(sourceAppId: string, tile: TileCoordinate): Promise<Tile> {
    const full = tile.width === TILE_WIDTH;
    const key = `${sourceAppId}\n${formatTilePath(tile)}`;
    const cached = full ? this.cache.get(key) : undefined;
    if (cached) return { bytes: cached, full };
    const latest = await this.storage.getCheckpoint(sourceAppId);
    if (!latest) throw notFound(`log "${sourceAppId}" has no checkpoint yet`, 'sourceAppId');
    const needs = leavesCovered(tile);
    if (needs > BigInt(latest.treeSize)) {
      throw new LogError('NOT_FOUND', `the latest checkpoint (tree size ${latest.treeSize}) does not cover this tile`, [
        { field: 'path', rule: 'beyondCheckpoint', message: `the tile needs a tree of ${needs} leaves` },
      ]);
    }
    const start = Number(firstNodeIndex(tile));
    const bytes =
      tile.level === 'entries' ? await this.entries(sourceAppId, start, tile.width) : await this.hashes(sourceAppId, tile, start);
    if (full) this.cache.set(key, bytes);
    return { bytes, full };
  }

  private async hashes(sourceAppId: string, tile: TileCoordinate, start: number): Promise<Uint8Array> {
    const level = treeLevelOf(tile);
    const ids = Array.from({ length: tile.width }, (_, i) => ({ level, index: start + i }));
    return Buffer.concat(await this.storage.getTreeNodes(sourceAppId, ids));
  }

  private async entries(sourceAppId: string, start: number, width: number): Promise<Uint8Array> {
    const events = await this.storage.getEventRange(sourceAppId, start, start + width, width);
    if (events.length !== width) throw new Error(`log ${sourceAppId}: events ${start}..${start + width - 1} are not all stored`);
    const leaves = events.map(storedLeafBytes);
    const long = leaves.findIndex((l) => l.length > MAX_ENTRY_BYTES);
    if (long >= 0) {
      throw new LogError(
        'NOT_FOUND',
        `the leaf at seq ${start + long} has ${leaves[long]!.length} bytes, more than an entry bundle holds`,
        [{ field: 'path', rule: 'leafTooLarge', message: `an entry bundle holds leaves of at most ${MAX_ENTRY_BYTES} bytes` }],
      );
    }
    return encodeEntryBundle(leaves);
  }
}
