// Socket.IO 4.8 as a benchmark peer, WebSocket only. A client names its channel in the
// handshake query and joins that room; POST /api/publish emits to the room. Socket.IO assigns
// no offsets, so this server numbers each channel's messages (1, 2, 3, ...) in the emitted
// object, the way the raw server and Pushwire do, and order is judged the same way.
//
// usage: node --import tsx packages/bench/targets/socketio-server.ts [--port 0] [--host 127.0.0.1]
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Server } from 'socket.io';

const MAX_BODY_BYTES = 64 * 1024;
const offsets = new Map<string, number>();

const http = createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/api/publish') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let body: { channel?: unknown; data?: unknown };
    try {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.length > MAX_BODY_BYTES) throw new Error('too large');
      body = JSON.parse(text);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (typeof body.channel !== 'string') {
      res.writeHead(400).end();
      return;
    }
    const offset = (offsets.get(body.channel) ?? 0) + 1;
    offsets.set(body.channel, offset);
    io.to(body.channel).emit('message', { channel: body.channel, offset, data: body.data });
    const reply = JSON.stringify({ channel: body.channel, offset, epoch: 'socketio' });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(reply) });
    res.end(reply);
  });
});
http.keepAliveTimeout = 120_000;

const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
io.on('connection', (socket) => {
  const channel = socket.handshake.query.channel;
  if (typeof channel === 'string') socket.join(channel);
});

const { values } = parseArgs({
  options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
});
http.listen(Number(values.port), values.host, () => {
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : values.port;
  process.stdout.write(`socketio listening on http://${values.host}:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
