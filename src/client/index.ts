// chainlog/client: the typed client for applications (README, "Client"). Imports only the pure core,
// graphql-ws's client and graphql-sse's client, so that browsers can use it too.
export { createChainlogClient, LOG_ROUTE_HEADER } from './client.js';
export type {
  ChainlogClient,
  ChainlogClientOptions,
  ChainlogEvent,
  CheckpointPublishedOptions,
  CheckpointUpdate,
  EventFilter,
  EventLoggedOptions,
  EventsOptions,
  EventsPage,
  LogEventInput,
  LoggedEvent,
  LogOptions,
  ServerInfo,
  SortOrder,
  Subscription,
  SubscribeOptions,
  TypedDocumentString,
  VerifiedEvent,
} from './client.js';
export type { ReconnectOptions, SubscriptionTransport } from './subscribe.js';
export {
  ChainlogError,
  ChainlogGraphqlError,
  ChainlogTransportError,
  ChainlogVerificationError,
  type GraphqlErrorItem,
} from './errors.js';
export { checkReceipt, type ReceiptCheck } from './verify.js';
