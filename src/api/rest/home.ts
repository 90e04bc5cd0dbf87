// GET /: what this service is and where its API is, for a person with a browser (HTML) or a
// client asking for JSON. It names routes only; it never shows data and needs no key.
import express, { type Router } from 'express';

export interface HomeInfo {
  version: string;
  /** Outside production the schema can be introspected (GraphQL explorers, codegen). */
  introspection: boolean;
}

const DOCS = 'README.md in the chainlog source tree (a tour, the configuration, operations)';

export function homeRouter(info: HomeInfo): Router {
  const router = express.Router();
  router.get('/', (req, res) => {
    const base = `${req.protocol}://${req.get('host') ?? 'localhost'}`;
    const body = {
      service: 'chainlog',
      description:
        'Tamper-evident event log: per-application hash-linked logs, RFC 9162 Merkle trees, signed checkpoints and proofs.',
      version: info.version,
      graphql: {
        http: `${base}/graphql`,
        subscriptions: `${base.replace(/^http/, 'ws')}/graphql (graphql-ws)`,
        introspection: info.introspection,
      },
      rest: { ingest: `POST ${base}/v1/events` },
      dashboard: `${base}/dashboard/`,
      health: `${base}/healthz`,
      metrics: `${base}/metrics (admin API key or METRICS_TOKEN)`,
      authentication: 'x-api-key: <key> or Authorization: Bearer <key>',
      docs: DOCS,
    };
    // Browsers ask for HTML first; curl (*/*) and API clients get JSON.
    if (req.accepts(['json', 'html']) === 'html') {
      res.type('html').send(html(body));
      return;
    }
    res.json(body);
  });
  return router;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function html(b: {
  description: string;
  version: string;
  graphql: { http: string; subscriptions: string; introspection: boolean };
  rest: { ingest: string };
  dashboard: string;
  health: string;
  metrics: string;
  authentication: string;
  docs: string;
}): string {
  const row = (name: string, value: string) => `<tr><th>${escape(name)}</th><td><code>${escape(value)}</code></td></tr>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chainlog</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem}th{text-align:left;padding-right:1rem;vertical-align:top}code{font-size:90%}</style>
</head><body>
<h1>chainlog ${escape(b.version)}</h1>
<p>${escape(b.description)}</p>
<p><a href="/dashboard/">Open the dashboard</a> (sign in with an API key).</p>
<table>
${row('GraphQL', b.graphql.http)}
${row('Subscriptions', b.graphql.subscriptions)}
${row('REST ingest', b.rest.ingest)}
${row('Dashboard', b.dashboard)}
${row('Health', b.health)}
${row('Metrics', b.metrics)}
${row('Authentication', b.authentication)}
</table>
<p>Schema introspection is ${b.graphql.introspection ? 'on (not in production)' : 'off (production)'}. Documentation: ${escape(b.docs)}.</p>
</body></html>
`;
}
