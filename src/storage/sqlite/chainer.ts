// The writer's Chainer (writer.ts): core's leaf hash, commitment and zero hash, nothing of its own, so
// a row the writer links and hashes gets exactly what the sequencer would have computed.
import { eventLeafHash, parseSalt, payloadCommitment, ZERO_HASH_HEX } from '../../core/leaf.js';
import type { Chainer } from './writer.js';

export const chainer: Chainer = {
  leafHash: eventLeafHash,
  commitment: (saltHex, payloadText) => payloadCommitment(parseSalt(saltHex), payloadText),
  zeroHash: ZERO_HASH_HEX,
};
