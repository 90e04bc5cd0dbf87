// The tamper kinds of sqlite-tampers.ts for the MongoDB engine (the same cases in the same order, then its own), as driver
// calls on its collections, shared by the verifyLog campaign (mongodb.test.ts) and the auditor CLI campaign
// (cli-mongodb.test.ts).
import { Binary, type Db, type Document, type MongoClient } from 'mongodb';
import { expect } from 'vitest';
import { collectionNames as C } from '../../src/storage/mongodb/documents.js';
import type { VerifyLogFinding } from './verify-log.js';

export const APP = 'shop';
export const SIZE = 64;

/** `kinds` and `firstBadSeq`: what verifyLog reports. */
export interface MongoTamper extends VerifyLogFinding {
  name: string;
  /** Driver calls against the stopped log's database. */
  apply: (db: Db) => Promise<void>;
}

const ev = (db: Db) => db.collection(C.events);
const at = (seq: number) => ({ sourceAppId: APP, seq });
async function one(db: Db, seq: number): Promise<Document> {
  const d = await ev(db).findOne(at(seq));
  if (!d) throw new Error(`no event ${seq}`);
  return d;
}
async function set(db: Db, filter: Document, update: Document, collection: string = C.events): Promise<void> {
  const r = await db.collection(collection).updateMany(filter, update);
  if (r.modifiedCount === 0) throw new Error(`tamper changed nothing in ${collection}: ${JSON.stringify(filter)}`);
}

export const mongoTampers: MongoTamper[] = [
  {
    name: 'edit a payload',
    apply: (db) => set(db, at(17), { $set: { payload: '{"n":1,"note":"forged"}' } }),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 17,
  },
  {
    name: 'edit a timestamp',
    apply: (db) => set(db, at(30), { $inc: { timestamp: 1 } }),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 30,
  },
  {
    name: 'edit an event type',
    apply: (db) => set(db, at(3), { $set: { eventType: 'order.refunded' } }),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 3,
  },
  {
    name: 'edit a stored hash',
    apply: (db) => set(db, at(40), { $set: { hash: 'ab'.repeat(32) } }),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 40,
  },
  {
    name: 're-link an event (edit its prevHash)',
    apply: (db) => set(db, at(9), { $set: { prevHash: 'cd'.repeat(32) } }),
    kinds: ['BROKEN_LINK'],
    firstBadSeq: 9,
  },
  {
    name: 'delete an event',
    apply: async (db) => {
      expect((await ev(db).deleteOne(at(22))).deletedCount).toBe(1);
    },
    kinds: ['GAP'],
    firstBadSeq: 22,
  },
  {
    name: 'delete the newest events',
    apply: async (db) => {
      expect((await ev(db).deleteMany({ sourceAppId: APP, seq: { $gte: 60 } })).deletedCount).toBe(4);
      const last = await one(db, 59);
      await set(db, { _id: APP }, { $set: { size: 60, headHash: last.hash } }, C.logs);
    },
    kinds: ['GAP'],
    firstBadSeq: 60,
  },
  {
    name: 'insert an event (shifting the later ones)',
    apply: async (db) => {
      // Through negative positions, so a unique (sourceAppId, seq) index never sees two at once.
      await set(db, { sourceAppId: APP, seq: { $gte: 25 } }, { $mul: { seq: -1 } });
      await set(db, { sourceAppId: APP, seq: { $lte: -25 } }, { $inc: { seq: -1 } });
      await set(db, { sourceAppId: APP, seq: { $lte: -26 } }, { $mul: { seq: -1 } });
      const before = await one(db, 24);
      const top = await ev(db)
        .find({}, { sort: { pos: -1 }, limit: 1 })
        .next();
      const { _id: _drop, ...rest } = before;
      await ev(db).insertOne({
        ...rest,
        seq: 25,
        eventType: 'order.created',
        payload: '{"n":0}',
        prevHash: before.hash,
        idempotencySlot: 'forged-insert',
        pos: (top!.pos as number) + 1,
      });
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 25,
  },
  {
    name: 'swap the contents of two events',
    apply: async (db) => {
      const a = await one(db, 12);
      const b = await one(db, 50);
      await set(db, at(12), { $set: { payload: b.payload, timestamp: b.timestamp } });
      await set(db, at(50), { $set: { payload: a.payload, timestamp: a.timestamp } });
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 12,
  },
  {
    name: 'reorder two events (swap their positions)',
    apply: async (db) => {
      await set(db, at(33), { $set: { seq: -1 } });
      await set(db, at(34), { $set: { seq: 33 } });
      await set(db, at(-1), { $set: { seq: 34 } });
    },
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 33,
  },
  {
    name: 'alter a tree node (level 2, index 5: leaves 20..23)',
    apply: (db) => set(db, { _id: `${APP}/2/5` }, { $set: { hash: new Binary(new Uint8Array(32)) } }, C.treeNodes),
    kinds: ['TREE_NODE_MISMATCH'],
    firstBadSeq: 20,
  },
  {
    name: "alter a checkpoint's root field",
    apply: (db) => set(db, { sourceAppId: APP, treeSize: 32 }, { $set: { rootHash: 'ef'.repeat(32) } }, C.checkpoints),
    kinds: ['BAD_CHECKPOINT'],
    firstBadSeq: 32,
  },
  {
    name: "alter a checkpoint's signed note",
    apply: async (db) => {
      const cp = await db.collection(C.checkpoints).findOne({ sourceAppId: APP, treeSize: 32 });
      const note = String(cp!.note);
      expect(note).toContain('\n32\n');
      await set(db, { sourceAppId: APP, treeSize: 32 }, { $set: { note: note.replace('\n32\n', '\n31\n') } }, C.checkpoints);
    },
    kinds: ['BAD_SIGNATURE'],
    firstBadSeq: 32,
  },
  // The same on the latest checkpoint, the only one the auditor CLI reads.
  {
    name: "alter the latest checkpoint's signed note",
    apply: async (db) => {
      const cp = await db.collection(C.checkpoints).findOne({ sourceAppId: APP, treeSize: 64 });
      const note = String(cp!.note);
      expect(note).toContain('\n64\n');
      await set(db, { sourceAppId: APP, treeSize: 64 }, { $set: { note: note.replace('\n64\n', '\n63\n') } }, C.checkpoints);
    },
    kinds: ['BAD_SIGNATURE'],
    firstBadSeq: 64,
  },
  // Beyond the SQLite list: fields and documents only this engine has in this shape.
  {
    name: 'edit a receivedAt',
    apply: (db) => set(db, at(45), { $inc: { receivedAt: -1000 } }),
    kinds: ['LEAF_HASH_MISMATCH'],
    firstBadSeq: 45,
  },
  {
    name: 'delete a tree node',
    apply: async (db) => {
      expect((await db.collection(C.treeNodes).deleteOne({ _id: `${APP}/3/6` as never })).deletedCount).toBe(1);
    },
    kinds: ['TREE_NODE_MISMATCH'],
    firstBadSeq: 48,
  },
  {
    // Not bytes at all: read as not stored.
    name: 'store a tree node as text',
    apply: async (db) => {
      const r = await db.collection(C.treeNodes).updateOne({ _id: `${APP}/1/9` as never }, { $set: { hash: 'ab'.repeat(32) } });
      expect(r.modifiedCount).toBe(1);
    },
    kinds: ['TREE_NODE_MISMATCH'],
    firstBadSeq: 18,
  },
  {
    name: 'move an event to another log',
    apply: (db) => set(db, at(10), { $set: { sourceAppId: 'other' } }),
    kinds: ['GAP'],
    firstBadSeq: 10,
  },
];

/** Copies every document of every engine collection (indexes come from the engine's own init). */
export async function cloneDb(client: MongoClient, from: string, to: string): Promise<void> {
  for (const name of Object.values(C)) {
    const docs = await client.db(from).collection(name).find({}).toArray();
    if (docs.length > 0) await client.db(to).collection(name).insertMany(docs, { ordered: false });
  }
}
