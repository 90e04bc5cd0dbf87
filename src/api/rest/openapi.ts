// The OpenAPI 3.1 document of the REST endpoints, served at GET /openapi.json. Request bodies are the
// zod schemas that validate them, converted by zod's own z.toJSONSchema (JSON Schema 2020-12, which
// OpenAPI 3.1 uses as it is); responses are described by the zod schemas below. A route is one entry
// of restRoutes().
import express, { type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../config.js';
import { eventInputSchema, ingestLimits } from '../validation/event-input.js';

export const OPENAPI_PATH = '/openapi.json';

/** One REST route as the document describes it. */
export interface RestRoute {
  method: 'get' | 'post';
  path: string;
  summary: string;
  /** An API key is required (AUTH=on). */
  authenticated: boolean;
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

/** Errors every authenticated JSON route may answer with. */
const errorResponses = {
  400: { description: 'Invalid input: each error names the field and the rule', schema: restErrors },
  401: { description: 'No API key, or one that is invalid or revoked', schema: restErrors },
  403: { description: 'The key may not do this (role or source application)', schema: restErrors },
  413: { description: 'The body is over MAX_BODY_BYTES', schema: restErrors },
  415: { description: 'Not sent as application/json', schema: restErrors },
  429: { description: 'Over the rate limit (Retry-After)', schema: restErrors },
} as const;

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
      body: { schema: z.union([event, z.array(event).min(1).max(config.MAX_BATCH_SIZE)]) },
      responses: {
        201: { description: 'Logged', schema: loggedEvents },
        200: {
          description: 'Every event was an idempotent retry of one logged before',
          schema: loggedEvents,
          headers: { 'Idempotent-Replayed': 'true' },
        },
        ...errorResponses,
        409: { description: 'expectedPrevHash is not the head of the log, or an idempotency conflict', schema: restErrors },
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
    description: 'RFC 3339 with a time zone, within MAX_CLOCK_SKEW_MS of the server clock',
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
