// The pure parts of a C2SP witness: cosignatures, add-checkpoint bodies, tlog-policy files and the
// decision on a submitted checkpoint. No I/O.
export {
  ALG_COSIGNATURE_V1,
  CosignatureError,
  cosignatureKeyId,
  cosignatureMessage,
  witnessVerifierKeyString,
  createCosignatureVerifier,
  parseWitnessVerifierKey,
  createCosigner,
  verifyCosignatureLine,
} from './cosignature.js';
export type { Cosignature, CosignatureVerifier, Cosigner } from './cosignature.js';
export {
  MAX_PROOF_LINES,
  AddCheckpointFormatError,
  parseAddCheckpointBody,
  formatAddCheckpointBody,
  noteOrigin,
} from './add-checkpoint.js';
export type { AddCheckpointRequest } from './add-checkpoint.js';
export { PolicyError, parsePolicy, logVerifiersByOrigin } from './policy.js';
export type { Policy, PolicyLog, PolicyWitness, PolicyGroup } from './policy.js';
export { quorumSatisfied, verifyWitnessedNote } from './quorum.js';
export type { PolicyCosignature, WitnessedNote } from './quorum.js';
export { decideAddCheckpoint } from './decide.js';
export type { WitnessedCheckpoint, WitnessDecision, InconsistencyReason } from './decide.js';
