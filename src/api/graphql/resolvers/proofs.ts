// Proofs and verification: arguments are checked here, ranges against the log by the service.
import type { Resolvers } from '../generated/resolvers.js';
import { parseOptionalPosition, parsePosition, parseSourceAppId, requireOrdered } from '../../validation/query-args.js';
import { requireApp } from '../../../auth/scope.js';
import type { Principal } from '../../../auth/principal.js';

const allowedApp = (principal: Principal, value: string) => {
  const sourceAppId = parseSourceAppId(value);
  requireApp(principal, sourceAppId);
  return sourceAppId;
};

export const proofResolvers: Resolvers = {
  Query: {
    inclusionProof: (_root, args, { service, principal }) => {
      const seq = parsePosition(args.seq, 'seq');
      const treeSize = parseOptionalPosition(args.treeSize, 'treeSize');
      requireOrdered(seq, treeSize, 'treeSize', 'seq + 1', true);
      return service.inclusionProof(allowedApp(principal, args.sourceAppId), seq, treeSize);
    },
    consistencyProof: (_root, args, { service, principal }) => {
      const fromSize = parsePosition(args.fromSize, 'fromSize');
      const toSize = parsePosition(args.toSize, 'toSize');
      requireOrdered(fromSize, toSize, 'toSize', 'fromSize');
      return service.consistencyProof(allowedApp(principal, args.sourceAppId), fromSize, toSize);
    },
    rangeProof: (_root, args, { service, principal }) => {
      const start = parsePosition(args.start, 'start');
      const end = parsePosition(args.end, 'end');
      const treeSize = parseOptionalPosition(args.treeSize, 'treeSize');
      requireOrdered(start, end, 'end', 'start', true);
      requireOrdered(end, treeSize, 'treeSize', 'end');
      return service.rangeProof(allowedApp(principal, args.sourceAppId), start, end, treeSize);
    },
    verifyLog: (_root, args, { service, principal }) => {
      const fromSeq = parseOptionalPosition(args.fromSeq, 'fromSeq');
      const toSeq = parseOptionalPosition(args.toSeq, 'toSeq');
      requireOrdered(fromSeq, toSeq, 'toSeq', 'fromSeq');
      return service.verifyLog(allowedApp(principal, args.sourceAppId), fromSeq, toSeq);
    },
  },
  RangeProof: {
    // Read only when asked for: the proof itself needs none of them.
    nodes: (proof, _args, { service }) => service.rangeProofNodes(proof),
  },
};
