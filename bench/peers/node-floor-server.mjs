// The floor of scenario 12: a plain node:http server that does for each POST what any Node service must
// (read the body, parse it as JSON, answer 201 with a small JSON document carrying the entry's index)
// and nothing else: nothing is validated, stored, hashed or published. GET of any path answers a
// checkpoint-shaped text whose second line is the number of entries answered, so the load client's
// poller sees every entry covered at once. Plain JavaScript, run by `node` as chainlog's built server is.
import { createServer } from 'node:http';

const MAX_BODY_BYTES = 1 << 20;
let size = 0;

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    const note = `node-floor\n${size}\nAAAA\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(note) });
    res.end(note);
    return;
  }
  const chunks = [];
  let length = 0;
  req.on('data', (chunk) => {
    length += chunk.length;
    if (length > MAX_BODY_BYTES) req.destroy();
    else chunks.push(chunk);
  });
  req.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    const answer = JSON.stringify({
      sourceAppId: body.sourceAppId ?? null,
      seq: size++,
      receivedAt: new Date().toISOString(),
      hash: 'f'.repeat(64),
    });
    res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) });
    res.end(answer);
  });
});

server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
