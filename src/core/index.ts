// The pure core: hashing, leaves, compact ranges, proofs, signed notes and checkpoints. No I/O.
export { toHex, fromHex, isHex64 } from './hex.js';
export { toBase64, fromBase64Strict } from './base64.js';
export { equalBytes } from './bytes.js';
export type { JsonObject, JsonValue } from './json.js';
export { HASH_SIZE, hashLeaf, hashChildren, emptyRoot } from './rfc6962/hasher.js';
export {
  ZERO_HASH_HEX,
  LEAF_VERSION,
  formatTime,
  parseTime,
  leafBytes,
  leafHashHex,
  checkedLeafHashHex,
  eventLeafHash,
} from './leaf.js';
export {
  LEAF_VERSION_2,
  PAYLOAD_SALT_BYTES,
  leafVersionOf,
  parseSalt,
  payloadCommitment,
  payloadMatchesCommitment,
  payloadMatchesCommitmentOfSalt,
} from './leaf.js';
export type { LeafFields, EventLeafFields, EventJson } from './leaf.js';
export type { LeafFieldsV2, AnyLeafFields, LeafVersion } from './leaf.js';
export type { NodeId } from './compact/node.js';
export { coverage, parent, sibling } from './compact/node.js';
export { CompactRange, completedNodes, decompose, rangeNodes, rangeSize } from './compact/range.js';
export type { NodeRun, NodeVisitor } from './compact/range.js';
export { inclusionNodes, consistencyNodes, rehash } from './proof/nodes.js';
export type { ProofNodes } from './proof/nodes.js';
export {
  ProofError,
  verifyInclusion,
  rootFromInclusionProof,
  verifyConsistency,
  rootFromConsistencyProof,
} from './proof/verify.js';
export { rangeProofNodes, verifyRange, verifyRangeHex } from './proof/range.js';
export {
  NoteError,
  ALG_ED25519,
  MAX_SIGNATURES,
  keyId,
  isValidKeyName,
  rawPublicKey,
  createSigner,
  createVerifier,
  verifierKeyString,
  parseVerifierKey,
  signNote,
  openNote,
} from './note/signed-note.js';
export type { NoteSigner, NoteVerifier, NoteSignature, OpenedNote } from './note/signed-note.js';
export {
  CheckpointError,
  formatCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  openCheckpoint,
  logVerifiers,
} from './checkpoint.js';
export type { Checkpoint } from './checkpoint.js';
export * from './witness/index.js';
export {
  TILE_WIDTH,
  TILE_HEIGHT,
  MAX_ENTRY_BYTES,
  MAX_TILE_LEVEL,
  TilePathError,
  formatTileIndex,
  formatTilePath,
  parseTilePath,
  treeLevelOf,
  leavesCovered,
  firstNodeIndex,
  encodeEntryBundle,
  decodeEntryBundle,
  leafBytesBound,
} from './tiles.js';
export type { TileCoordinate } from './tiles.js';
export { TLOG_PROOF_HEADER, ReceiptError, formatTlogProof, parseTlogProof, verifyReceipt } from './receipt.js';
export type { TlogProof, VerifiedReceipt } from './receipt.js';
export {
  EVIDENCE_FORMAT,
  PROVEN_KINDS,
  INCONSISTENCY_KINDS,
  OBSERVATIONS,
  EvidenceFormatError,
  evidenceText,
  evidenceId,
  parseEvidence,
  verifyEvidence,
  rootsFromConsistencyProof,
  classifyCheckpoints,
  classifyLeaves,
  historyBackwards,
} from './inconsistency/evidence.js';
export type {
  Evidence,
  Verdict,
  ProvenKind,
  InconsistencyKind,
  Observation,
  LeafWitness,
  SignedCheckpoint,
} from './inconsistency/evidence.js';
export { PositionSet } from './positions.js';
