// Receipts (C2SP tlog-proof) of events: Query.receipt, Event.receipt and the Receipt type.
import type { Resolvers } from '../generated/resolvers.js';
import { requireApp } from '../../../auth/scope.js';
import { receiptOf } from '../../../log/receipts.js';
import { waitedReceiptOf } from '../../receipt-wait.js';
import { eventId, parseEventId } from '../../validation/query-args.js';

export const receiptResolvers: Resolvers = {
  Query: {
    receipt: async (_root, { id }, { service, principal }) => {
      const { sourceAppId, seq } = parseEventId(id);
      requireApp(principal, sourceAppId, 'id');
      const event = await service.getEvent(sourceAppId, seq);
      return event ? receiptOf(service, sourceAppId, seq) : null;
    },
  },
  Event: {
    receipt: (e) => waitedReceiptOf(e),
  },
  Receipt: {
    eventId: (r) => eventId(r),
    index: (r) => r.seq,
  },
};
