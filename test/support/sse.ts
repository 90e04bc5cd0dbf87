// A GraphQL over SSE reader as a browser's EventSource reads a stream: GET /graphql/stream with the
// operation in the query string, Accept: text/event-stream, the body parsed as text/event-stream
// (fields per line, events separated by a blank line, lines starting with ':' comments).
import { until } from './wait.js';

export interface SseEvent {
  event: string;
  data: any;
}

export interface SseStream {
  status: number;
  contentType: string | null;
  /** The body of a refused request (JSON), null for a stream. */
  refusal: any;
  events: SseEvent[];
  /** Comment lines received (keep-alive). */
  comments: number;
  /** The server ended the response. */
  ended: boolean;
  /** Drops the connection, as a client going away. */
  abort(): void;
  until(what: string, done: (s: SseStream) => boolean, timeoutMs?: number): Promise<void>;
  /** The `data` of every `next` event. */
  nexts(): any[];
}

export interface SseRequest {
  query: string;
  variables?: Record<string, unknown>;
  key?: string | null;
  method?: 'GET' | 'POST';
}

export async function openSse(baseUrl: string, req: SseRequest): Promise<SseStream> {
  const url = new URL('/graphql/stream', baseUrl);
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (req.key) headers['x-api-key'] = req.key;
  const method = req.method ?? 'GET';
  let body: string | undefined;
  if (method === 'GET') {
    url.searchParams.set('query', req.query);
    if (req.variables) url.searchParams.set('variables', JSON.stringify(req.variables));
  } else {
    headers['content-type'] = 'application/json';
    body = JSON.stringify({ query: req.query, ...(req.variables && { variables: req.variables }) });
  }
  const controller = new AbortController();
  const res = await fetch(url, { method, headers, ...(body && { body }), signal: controller.signal });
  const stream: SseStream = {
    status: res.status,
    contentType: res.headers.get('content-type'),
    refusal: null,
    events: [],
    comments: 0,
    ended: false,
    abort: () => controller.abort(),
    until: (what, done, timeoutMs = 10_000) => until(what, () => done(stream), { timeoutMs }).then(() => undefined),
    nexts: () => stream.events.filter((e) => e.event === 'next').map((e) => e.data),
  };
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    stream.refusal = await res.json().catch(() => null);
    stream.ended = true;
    return stream;
  }
  void (async () => {
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffered += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 2);
          parseBlock(block, stream);
        }
      }
    } catch {
      // Aborted by the test.
    }
    stream.ended = true;
  })();
  return stream;
}

/** A whole text/event-stream body: its events and how many comment lines it held. */
export function parseEventStream(text: string): Pick<SseStream, 'events' | 'comments'> {
  const parsed = { events: [] as SseEvent[], comments: 0 };
  for (const block of text.split('\n\n')) parseBlock(block, parsed);
  return parsed;
}

function parseBlock(block: string, stream: Pick<SseStream, 'events' | 'comments'>): void {
  let event = 'message';
  const data: string[] = [];
  let fields = 0;
  for (const line of block.split('\n')) {
    if (line === '') continue;
    if (line.startsWith(':')) {
      stream.comments++;
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    fields++;
    if (name === 'event') event = value;
    else if (name === 'data') data.push(value);
  }
  if (fields === 0) return;
  const text = data.join('\n');
  stream.events.push({ event, data: text === '' ? null : JSON.parse(text) });
}
