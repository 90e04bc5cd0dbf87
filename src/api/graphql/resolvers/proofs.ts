// Proofs and verification: arguments are checked here, ranges against the log by the service.
import type { Resolvers } from '../generated/resolvers.js';
import { parseOptionalPosition, parsePosition, parseSourceAppId, requireOrdered } from '../../validation/query-args.js';

export const proofResolvers: Resolvers = {
  Query: {
    inclusionProof: (_root, args, { service }) => {
      const seq = parsePosition(args.seq, 'seq');
      const treeSize = parseOptionalPosition(args.treeSize, 'treeSize');
      requireOrdered(seq, treeSize, 'treeSize', 'seq + 1', true);
      return service.inclusionProof(parseSourceAppId(args.sourceAppId), seq, treeSize);
    },
    consistencyProof: (_root, args, { service }) => {
      const fromSize = parsePosition(args.fromSize, 'fromSize');
      const toSize = parsePosition(args.toSize, 'toSize');
      requireOrdered(fromSize, toSize, 'toSize', 'fromSize');
      return service.consistencyProof(parseSourceAppId(args.sourceAppId), fromSize, toSize);
    },
    rangeProof: (_root, args, { service }) => {
      const start = parsePosition(args.start, 'start');
      const end = parsePosition(args.end, 'end');
      const treeSize = parseOptionalPosition(args.treeSize, 'treeSize');
      requireOrdered(start, end, 'end', 'start', true);
      requireOrdered(end, treeSize, 'treeSize', 'end');
      return service.rangeProof(parseSourceAppId(args.sourceAppId), start, end, treeSize);
    },
    verifyLog: (_root, args, { service }) => {
      const fromSeq = parseOptionalPosition(args.fromSeq, 'fromSeq');
      const toSeq = parseOptionalPosition(args.toSeq, 'toSeq');
      requireOrdered(fromSeq, toSeq, 'toSeq', 'fromSeq');
      return service.verifyLog(parseSourceAppId(args.sourceAppId), fromSeq, toSeq);
    },
  },
};
