// The OpenAPI 3.1 document of the REST endpoints, served at GET /openapi.json. Request bodies are the
// zod schemas that validate them, converted by zod's own z.toJSONSchema (JSON Schema 2020-12, which
// OpenAPI 3.1 uses as it is); responses are described by the zod schemas below. A route is one entry
// of restRoutes().
import express, { type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { eventInputSchema, ingestLimits } from '../validation/event-input.js';
import { sourceAppId } from '../validation/rules.js';
import { WITNESS_MAX_BODY_BYTES } from './witness.js';

export const OPENAPI_PATH = '/openapi.json';

/** A path, query or header parameter of a route. */
export interface RestParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  description: string;
  schema: z.ZodType;
  /** The request is refused without it; a path parameter always is. Default false. */
  required?: boolean;
}

/** One REST route as the document describes it. */
export interface RestRoute {
  method: 'get' | 'post';
  path: string;
  summary: string;
  /** An API key is required (AUTH=on). */
  authenticated: boolean;
  parameters?: RestParameter[];
  body?: { schema: z.ZodType; mediaType?: string };
  responses: Record<number, { description: string; schema?: z.ZodType; mediaType?: string; headers?: Record<string, string> }>;
}

const restError = z.object({
  code: z.string().meta({ description: 'Stable error code, e.g. BAD_USER_INPUT' }),
  message: z.string(),
  field: z.string().optional().meta({ description: 'The field at fault, as a path (payload.a[0])' }),
  rule: z.string().optional().meta({ description: 'The rule it broke' }),
  index: z.number().int().optional().meta({ description: 'The item of a batch at fault' }),
});
const restErrors = z.object({ errors: z.array(restError).min(1) });

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const loggedEvent = z.object({
  id: z.string().meta({ description: '<sourceAppId>/<seq>' }),
  sourceAppId: z.string(),
  seq: z.number().int().min(0),
  eventType: z.string(),
  timestamp: z.iso.datetime(),
  receivedAt: z.iso.datetime(),
  payload: z.record(z.string(), z.unknown()),
  prevHash: hex64,
  hash: hex64,
  replayed: z.boolean().meta({ description: 'An idempotent retry of an event logged before' }),
});
const loggedEvents = z.object({ events: z.array(loggedEvent) });
/** An event as `Prefer: return=minimal` answers it (src/api/event-json.ts, minimalEventJson). */
const minimalLoggedEvent = loggedEvent.pick({
  id: true,
  sourceAppId: true,
  seq: true,
  receivedAt: true,
  hash: true,
  replayed: true,
});
const minimalLoggedEvents = z.object({ events: z.array(minimalLoggedEvent) });
const waitedReceipt = z.object({
  status: z.enum(['READY', 'PENDING']).meta({ description: 'PENDING when RECEIPT_WAIT_TIMEOUT_MS passed first' }),
  proof: z.string().nullable().meta({ description: 'The C2SP tlog-proof text (c2sp.org/tlog-proof@v1); null while PENDING' }),
  treeSize: z.number().int().min(1).nullable().meta({ description: 'The size of the checkpoint the proof is against' }),
});
const loggedEventsWithReceipts = z.object({ events: z.array(loggedEvent.extend({ receipt: waitedReceipt })) });
const minimalLoggedEventsWithReceipts = z.object({ events: z.array(minimalLoggedEvent.extend({ receipt: waitedReceipt })) });
/** Every shape of POST /v1/events's acknowledgement: whole or minimal, with receipts or without. */
const loggedAnswer = z.union([loggedEvents, loggedEventsWithReceipts, minimalLoggedEvents, minimalLoggedEventsWithReceipts]);
const text = z.string();
const bytes = z.string().meta({ contentMediaType: 'application/octet-stream' });

/** Errors every authenticated JSON route may answer with. */
const errorResponses = {
  400: { description: 'Invalid input: each error names the field and the rule', schema: restErrors },
  401: { description: 'No API key, or one that is invalid or revoked', schema: restErrors },
  403: { description: 'The key may not do this (role or source application)', schema: restErrors },
  413: { description: 'The body is over MAX_BODY_BYTES', schema: restErrors },
  415: { description: 'Not sent as application/json, or not UTF-8 (rule encoding)', schema: restErrors },
  429: { description: 'Over the rate limit (Retry-After)', schema: restErrors },
} as const;

/** Errors of the read routes that take an API key (unless the log is public for tiles). */
const readErrors = {
  400: errorResponses[400],
  401: errorResponses[401],
  403: errorResponses[403],
  404: { description: 'No such log or event', schema: restErrors },
} as const;

const appParameter: RestParameter = {
  name: 'app',
  in: 'path',
  description: "The log's sourceAppId",
  schema: sourceAppId,
};

/** The last element of a tile index in a tile path (c2sp.org/tlog-tiles: N in groups of three digits). */
const tileIndexParameter: RestParameter = {
  name: 'n',
  in: 'path',
  description:
    'The tile index N, as three decimal digits (000-999). A larger index takes more path segments, ' +
    'each but the last prefixed with x (N=1234067 is x001/x234/067), which a path parameter cannot carry; ' +
    'the server serves those paths too.',
  schema: z.string().regex(/^[0-9]{3}$/),
};
const tileWidthParameter: RestParameter = {
  name: 'width',
  in: 'path',
  description: 'The width W of a partial tile: 1-255 hashes (entries), without leading zeros',
  schema: z.string().regex(/^[1-9][0-9]{0,2}$/),
};
const tileLevelParameter: RestParameter = {
  name: 'level',
  in: 'path',
  description: 'The tile level L: 0-63, without leading zeros (entry bundles are at tile/entries/)',
  schema: z.string().regex(/^(?:0|[1-9][0-9]?)$/),
};

/** The tile routes of c2sp.org/tlog-tiles: hash tiles and entry bundles, full and partial. */
function tileRoutes(): RestRoute[] {
  const tileResponses = (what: string) => ({
    200: {
      description: `${what}. Cache-Control immutable (it never changes); ETag`,
      schema: bytes,
      mediaType: 'application/octet-stream',
    },
    304: { description: 'Not modified (If-None-Match holds its ETag)' },
    ...readErrors,
  });
  const hashTile = 'A hash tile: up to 256 hashes of 32 bytes, concatenated';
  const bundle = 'An entry bundle: each entry a big-endian uint16 length, then the leaf; gzip when accepted';
  return [
    {
      method: 'get',
      path: '/tlog/{app}/tile/{level}/{n}',
      summary: 'A full hash tile (c2sp.org/tlog-tiles)',
      authenticated: true,
      parameters: [appParameter, tileLevelParameter, tileIndexParameter],
      responses: tileResponses(hashTile),
    },
    {
      method: 'get',
      path: '/tlog/{app}/tile/{level}/{n}.p/{width}',
      summary: 'A partial hash tile of width W (c2sp.org/tlog-tiles)',
      authenticated: true,
      parameters: [appParameter, tileLevelParameter, tileIndexParameter, tileWidthParameter],
      responses: tileResponses(hashTile),
    },
    {
      method: 'get',
      path: '/tlog/{app}/tile/entries/{n}',
      summary: 'A full entry bundle of 256 leaves (c2sp.org/tlog-tiles)',
      authenticated: true,
      parameters: [appParameter, tileIndexParameter],
      responses: tileResponses(bundle),
    },
    {
      method: 'get',
      path: '/tlog/{app}/tile/entries/{n}.p/{width}',
      summary: 'A partial entry bundle of W leaves (c2sp.org/tlog-tiles)',
      authenticated: true,
      parameters: [appParameter, tileIndexParameter, tileWidthParameter],
      responses: tileResponses(bundle),
    },
  ];
}

/** The witness's submission endpoint (c2sp.org/tlog-witness); served when WITNESSED_LOGS_FILE is set. */
const addCheckpointRoute: RestRoute = {
  method: 'post',
  path: '/witness/add-checkpoint',
  summary:
    'Submit a checkpoint for cosigning (c2sp.org/tlog-witness): `old <N>`, up to 63 base64 consistency-proof ' +
    "lines, an empty line, then the signed checkpoint note. The log's signature is the authentication.",
  authenticated: false,
  body: { schema: text.max(WITNESS_MAX_BODY_BYTES), mediaType: 'text/plain' },
  responses: {
    200: { description: 'The cosignature line(s) over the checkpoint', schema: text, mediaType: 'text/plain' },
    400: { description: 'A malformed body, or `old` larger than the checkpoint size', schema: text, mediaType: 'text/plain' },
    403: {
      description: "No trusted key of the origin signed it, or the log's signature fails",
      schema: text,
      mediaType: 'text/plain',
    },
    404: { description: 'An origin this witness does not witness', schema: text, mediaType: 'text/plain' },
    409: {
      description: '`old` is not the size this witness last cosigned; the body is that size',
      schema: z.string().regex(/^[0-9]+\n$/),
      mediaType: 'text/x.tlog.size',
    },
    413: { description: `The body is over ${WITNESS_MAX_BODY_BYTES} bytes`, schema: text, mediaType: 'text/plain' },
    422: {
      description:
        'The consistency proof fails, or a checkpoint of the same size has another root (recorded as an inconsistency)',
      schema: text,
      mediaType: 'text/plain',
    },
    429: { description: 'Over the per-origin rate limit (Retry-After)', schema: text, mediaType: 'text/plain' },
  },
};

/** Every REST route the document describes. Adding one is adding an entry here. */
export function restRoutes(config: Config): RestRoute[] {
  const limits = ingestLimits(config);
  const event = eventInputSchema(limits);
  return [
    {
      method: 'post',
      path: '/v1/events',
      summary: 'Log one event, or a batch of them (all or none), under the same rules as logEvent(s)',
      authenticated: true,
      parameters: [
        {
          name: 'wait',
          in: 'query',
          description:
            '`receipt`: answer once checkpoints cover the events (at most RECEIPT_WAIT_TIMEOUT_MS), each with its receipt',
          schema: z.enum(['receipt']),
        },
        {
          name: 'Prefer',
          in: 'header',
          description:
            '`return=minimal` (RFC 7240): answer each event with id, sourceAppId, seq, receivedAt and hash only ' +
            '(and its receipt with ?wait=receipt), not the whole event; the answer then carries ' +
            '`Preference-Applied: return=minimal`. Other preferences are ignored.',
          schema: z.string(),
        },
      ],
      body: { schema: z.union([event, z.array(event).min(1).max(config.MAX_BATCH_SIZE)]) },
      responses: {
        201: {
          description:
            'Logged (with ?wait=receipt, each event carries its receipt; with Prefer: return=minimal, each event is minimal)',
          schema: loggedAnswer,
          headers: { 'Preference-Applied': 'return=minimal' },
        },
        200: {
          description: 'Every event was an idempotent retry of one logged before',
          schema: loggedAnswer,
          headers: { 'Idempotent-Replayed': 'true', 'Preference-Applied': 'return=minimal' },
        },
        ...errorResponses,
        409: { description: 'expectedPrevHash is not the head of the log, or an idempotency conflict', schema: restErrors },
      },
    },
    {
      method: 'get',
      path: '/v1/events/{app}/{seq}/receipt',
      summary: "An event's receipt: a C2SP tlog-proof (c2sp.org/tlog-proof@v1) against the log's latest checkpoint",
      authenticated: true,
      parameters: [
        appParameter,
        {
          name: 'seq',
          in: 'path',
          description: "The event's position in the log, a decimal integer without leading zeros",
          schema: z.string().regex(/^(?:0|[1-9][0-9]{0,15})$/),
        },
      ],
      responses: {
        200: { description: 'The receipt (ETag; Cache-Control no-cache)', schema: text, mediaType: 'text/plain' },
        304: { description: 'Not modified (If-None-Match holds its ETag)' },
        ...readErrors,
        404: {
          description: 'No such event, or no checkpoint covers it yet (rule receiptPending, with Retry-After)',
          schema: restErrors,
        },
      },
    },
    {
      method: 'get',
      path: '/v1/logs/{app}/range-proof',
      summary:
        "The events [start, end) with their range proof in the tree of treeSize (default the latest checkpoint's): " +
        "GraphQL's rangeProof as one JSON document (the auditor's pages); a role that may prove",
      authenticated: true,
      parameters: [
        appParameter,
        ...(['start', 'end', 'treeSize'] as const).map((name): RestParameter => ({
          name,
          in: 'query',
          description: `${name === 'start' ? 'The first position' : name === 'end' ? 'The position after the last (at most 1000 events)' : 'The tree size (optional)'}, a decimal integer without leading zeros, at most 2^53 - 1`,
          schema: z.string().regex(/^(?:0|[1-9][0-9]{0,15})$/),
          required: name !== 'treeSize',
        })),
        {
          name: 'nodes',
          in: 'query',
          description:
            'true: the answer adds `nodes`, the stored tree nodes of level 1 and up whose last leaf is in [start, end) ' +
            '(what every proof is made of), for an auditor to compare with the tree it recomputes. Default false',
          schema: z.enum(['true', 'false']),
        },
      ],
      responses: {
        200: {
          description:
            'start, end, treeSize, leftHashes, rightHashes, with nodes=true the nodes (one run per level from 1 up: ' +
            'level, the first index, the hashes in index order) and the events (Cache-Control no-store)',
          schema: z.object({
            start: z.number().int(),
            end: z.number().int(),
            treeSize: z.number().int(),
            leftHashes: z.array(z.string()),
            rightHashes: z.array(z.string()),
            nodes: z
              .array(z.object({ level: z.number().int(), index: z.number().int(), hashes: z.array(z.string()) }))
              .optional(),
            events: z.array(z.record(z.string(), z.unknown())),
          }),
        },
        ...readErrors,
        404: { description: 'No such log, or no checkpoint of that size', schema: restErrors },
        413: {
          description: 'The answer is over GRAPHQL_MAX_RESPONSE_BYTES (RESPONSE_TOO_LARGE): ask for fewer events',
          schema: restErrors,
        },
      },
    },
    {
      method: 'get',
      path: '/tlog/{app}/checkpoint',
      summary: "The log's latest checkpoint, a signed note with its witnesses' cosignatures (c2sp.org/tlog-tiles)",
      authenticated: true,
      parameters: [appParameter],
      responses: {
        200: { description: 'The checkpoint note (ETag; Cache-Control no-cache)', schema: text, mediaType: 'text/plain' },
        304: { description: 'Not modified (If-None-Match holds its ETag)' },
        ...readErrors,
      },
    },
    ...tileRoutes(),
    ...(config.WITNESSED_LOGS_FILE ? [addCheckpointRoute] : []),
    {
      method: 'get',
      path: '/witness/{originHash}/checkpoint',
      summary:
        "This server's latest view of an origin it witnesses or follows, as a signed note (c2sp.org/tlog-witness, monitoring)",
      authenticated: false,
      parameters: [
        {
          name: 'originHash',
          in: 'path',
          description: 'The lowercase hex SHA-256 of the origin line',
          schema: hex64,
        },
      ],
      responses: {
        200: {
          description: "The log's signed checkpoint, with this server's cosignature when it cosigned it",
          schema: text,
          mediaType: 'text/plain',
        },
        404: { description: 'No view of this origin here', schema: text, mediaType: 'text/plain' },
      },
    },
    {
      method: 'get',
      path: '/healthz',
      summary: 'Readiness: 200 once the service serves requests',
      authenticated: false,
      responses: {
        200: { description: 'Ready', schema: z.object({ status: z.literal('ok') }) },
        503: { description: 'Starting or stopping', schema: z.object({ status: z.literal('unavailable') }) },
      },
    },
  ];
}

/** What z.toJSONSchema cannot derive from a refinement: the wire form of the event input's custom fields. */
const CUSTOM_FIELDS: Record<string, Record<string, unknown>> = {
  timestamp: {
    type: 'string',
    format: 'date-time',
    description: 'RFC 3339 with a time zone, at most millisecond-precise, within MAX_CLOCK_SKEW_MS of the server clock',
  },
  payload: { type: 'object', description: 'A JSON object, at most MAX_PAYLOAD_BYTES (canonical JSON)' },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const out = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    // The event input's timestamp and payload are refinements with no JSON Schema of their own.
    override: (ctx) => {
      const key = ctx.path.at(-1);
      if (typeof key === 'string' && ctx.path.at(-2) === 'properties' && key in CUSTOM_FIELDS) {
        const js = ctx.jsonSchema as Record<string, unknown>;
        if (Object.keys(js).length === 0) Object.assign(js, CUSTOM_FIELDS[key]);
      }
    },
  }) as Record<string, unknown>;
  delete out.$schema;
  return out;
}

export function openApiDocument(config: Config, version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of restRoutes(config)) {
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      responses[status] = {
        description: r.description,
        ...(r.headers && {
          headers: Object.fromEntries(
            Object.entries(r.headers).map(([name, value]) => [name, { schema: { type: 'string', const: value } }]),
          ),
        }),
        ...(r.schema && { content: { [r.mediaType ?? 'application/json']: { schema: jsonSchema(r.schema) } } }),
      };
    }
    (paths[route.path] ??= {})[route.method] = {
      summary: route.summary,
      ...(route.authenticated && config.AUTH !== 'off' && { security: [{ apiKey: [] }, { bearer: [] }] }),
      ...(route.parameters && {
        parameters: route.parameters.map((p) => ({
          name: p.name,
          in: p.in,
          required: p.in === 'path' || p.required === true,
          description: p.description,
          schema: jsonSchema(p.schema),
        })),
      }),
      ...(route.body && {
        requestBody: {
          required: true,
          content: { [route.body.mediaType ?? 'application/json']: { schema: jsonSchema(route.body.schema) } },
        },
      }),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'chainlog REST API', version, description: 'GraphQL (/graphql, /graphql/stream) is described by its schema.' },
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
    },
  };
}

/** GET /openapi.json: public, as the schema of a public API is; built once. */
export function openApiRouter(config: Config, version: string): Router {
  const router = express.Router();
  const body = JSON.stringify(openApiDocument(config, version));
  router.get(OPENAPI_PATH, (_req, res) => {
    res.type('application/json').send(body);
  });
  return router;
}
