// The GraphQL operations the benchmark sends.
export const TRIVIAL = '{ serverInfo { version } }';

export const LOG_EVENTS = `mutation LogEvents($inputs: [LogEventInput!]!) { logEvents(inputs: $inputs) { seq } }`;

export const LOG_EVENT = `mutation LogEvent($input: LogEventInput!) { logEvent(input: $input) { id seq receivedAt } }`;

export const PUBLISH = `mutation { publishCheckpoints { sourceAppId treeSize } }`;

export const CHECKPOINT = `query Checkpoint($app: String!) { checkpoint(sourceAppId: $app) { treeSize rootHash note publishedAt } }`;

const EVENT_FIELDS = 'id sourceAppId seq eventType timestamp receivedAt payload payloadHash payloadSalt prevHash hash';

export const EVENTS_PAGE = `query Events($filter: EventFilter, $first: Int, $after: String) {
  events(filter: $filter, first: $first, after: $after) {
    edges { cursor node { ${EVENT_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const INCLUSION = `query Inclusion($app: String!, $seq: SafeInt!, $size: SafeInt) {
  inclusionProof(sourceAppId: $app, seq: $seq, treeSize: $size) { leafIndex treeSize leafHash rootHash hashes }
}`;

export const CONSISTENCY = `query Consistency($app: String!, $from: SafeInt!, $to: SafeInt!) {
  consistencyProof(sourceAppId: $app, fromSize: $from, toSize: $to) { fromSize toSize fromRoot toRoot hashes }
}`;

export const RANGE = `query Range($app: String!, $start: SafeInt!, $end: SafeInt!, $size: SafeInt) {
  rangeProof(sourceAppId: $app, start: $start, end: $end, treeSize: $size) {
    start end treeSize rootHash leftHashes rightHashes events { ${EVENT_FIELDS} }
  }
}`;

export const SUB_EVENTS = `subscription { eventLogged { id eventType receivedAt } }`;

export const SUB_CHECKPOINTS = `subscription Checkpoints($app: String) { checkpointPublished(sourceAppId: $app) { checkpoint { treeSize publishedAt } } }`;
