// Checkpoint.cosignatures and Checkpoint.witnessed (the note's verified cosignatures under the witness
// policy in force) and the witnesses' health.
import type { Resolvers } from '../generated/resolvers.js';

export const witnessingResolvers: Resolvers = {
  Query: {
    witnesses: (_root, _args, { witnessing }) => witnessing?.health() ?? [],
  },
  Checkpoint: {
    cosignatures: (c, _args, { witnessing }) => witnessing?.inspect(c).cosignatures ?? [],
    witnessed: (c, _args, { witnessing }) => witnessing?.inspect(c).witnessed ?? false,
  },
  Cosignature: {
    keyId: (c) => Buffer.from(c.keyId).toString('hex'),
    timestamp: (c) => c.timestamp * 1000,
  },
  WitnessHealth: {
    verifierKey: (w) => w.vkey,
  },
};
