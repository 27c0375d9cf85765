// The raw Node ceiling: the least a Node process must do to push one channel's messages over
// WebSocket, SSE, long poll and NDJSON streaming. No hub, no cursor codec, no auth, and no
// heartbeats unless asked (`--heartbeat MS`: the same ping bytes as Pushwire's, written to
// every streaming connection each MS, as an idle server behind a proxy must): each message
// is framed once per transport, and once per event-loop turn every subscriber socket gets a
// single write of the same bytes. It speaks just enough of the
// Pushwire wire format (docs/protocol.md) that the load generator drives both alike, and it
// assigns offsets (1, 2, 3, ... per channel) so order is judged the same way. Its cursor is
// the offset: a subscriber that comes back with `cursor` (a `subscribe` field on /ws, a query
// parameter elsewhere) first gets what history holds after it, then live messages.
//
// Forked by raw-cluster.ts as one of several workers, it hands each publish to the primary,
// which numbers it and sends it back to every worker (see relayPublish).
//
// usage: node --import tsx packages/bench/targets/raw-server.ts [--port 0] [--host 127.0.0.1]
//                                                               [--history 1000] [--heartbeat 0]
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { type WebSocket, WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    history: { type: 'string', default: '1000' },
    heartbeat: { type: 'string', default: '0' },
  },
});
/** Messages kept per channel at least, for subscribers that come back with a cursor. */
const HISTORY_LENGTH = Number(values.history);
const POLL_TIMEOUT_MS = 25_000;
const MAX_BODY_BYTES = 64 * 1024;

interface HeldPoll {
  readonly res: ServerResponse;
  readonly cursor: number;
  readonly timer: NodeJS.Timeout;
}

interface Channel {
  readonly name: string;
  offset: number;
  /** The message JSON of the last HISTORY_LENGTH offsets, for long polls that come back. */
  readonly history: string[];
  readonly ws: Set<Duplex>;
  readonly sse: Set<ServerResponse>;
  readonly stream: Set<ServerResponse>;
  readonly polls: Set<HeldPoll>;
  /** Messages published in this event-loop turn, not yet written. */
  pending: string[];
}

const channels = new Map<string, Channel>();
const dirty = new Set<Channel>();
let flushScheduled = false;

function channelOf(name: string): Channel {
  let channel = channels.get(name);
  if (!channel) {
    channel = {
      name,
      offset: 0,
      history: [],
      ws: new Set(),
      sse: new Set(),
      stream: new Set(),
      polls: new Set(),
      pending: [],
    };
    channels.set(name, channel);
  }
  return channel;
}

function publish(name: string, dataJson: string): number {
  const channel = channelOf(name);
  deliver(channel, channel.offset + 1, dataJson);
  return channel.offset;
}

/** Adds message `offset` of `channel` to its history and to this turn's writes. */
function deliver(channel: Channel, offset: number, dataJson: string): void {
  const name = channel.name;
  channel.offset = offset;
  const message = `"channel":${JSON.stringify(name)},"offset":${channel.offset},"epoch":"raw","data":${dataJson},"cursor":"${channel.offset}"}`;
  channel.history.push(message);
  // Trimmed in batches: one shift per publish would move the whole array each time once full.
  if (channel.history.length >= 2 * HISTORY_LENGTH) channel.history.splice(0, HISTORY_LENGTH);
  channel.pending.push(message);
  dirty.add(channel);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

/** A publish on its way through the primary of raw-cluster.ts, and back to every worker. */
export interface RelayedPublish {
  readonly raw: 'publish';
  readonly channel: string;
  readonly dataJson: string;
  /** The request it answers on the worker it came from (`origin`, the cluster worker id). */
  readonly origin: number;
  readonly request: number;
  /** Numbered by the primary: the channel's offsets are the same on every worker. */
  readonly offset?: number;
}

const answers = new Map<number, (offset: number) => void>();
let nextRequest = 0;

/** In a cluster: the primary numbers the publish and hands it to every worker, this one too. */
function relayPublish(name: string, dataJson: string): Promise<number> {
  const request = nextRequest++;
  return new Promise((answer) => {
    answers.set(request, answer);
    const message: RelayedPublish = {
      raw: 'publish',
      channel: name,
      dataJson,
      origin: cluster.worker!.id,
      request,
    };
    process.send!(message);
  });
}

if (cluster.isWorker) {
  process.on('message', (message: RelayedPublish) => {
    if (message?.raw !== 'publish' || message.offset === undefined) return;
    const channel = channelOf(message.channel);
    // A worker may be forked after a publish: it numbers on from wherever the primary is.
    if (message.offset > channel.offset) deliver(channel, message.offset, message.dataJson);
    if (message.origin === cluster.worker!.id) {
      answers.get(message.request)?.(message.offset);
      answers.delete(message.request);
    }
  });
}

/** Once per turn: frame each channel's new messages once per transport, one write per socket. */
function flush(): void {
  flushScheduled = false;
  for (const channel of dirty) {
    const messages = channel.pending;
    channel.pending = [];
    if (channel.ws.size > 0) {
      const frames = Buffer.concat(messages.map((m) => wsTextFrame(`{"op":"message",${m}`)));
      for (const socket of channel.ws) socket.write(frames);
    }
    if (channel.sse.size > 0) {
      const events = Buffer.from(
        messages.map((m, i) => sseEvent(m, channel.offset - messages.length + i + 1)).join(''),
      );
      for (const res of channel.sse) res.write(events);
    }
    if (channel.stream.size > 0) {
      const lines = Buffer.from(messages.map((m) => `{"op":"message",${m}\n`).join(''));
      for (const res of channel.stream) res.write(lines);
    }
    if (channel.polls.size > 0) {
      // Held polls wait at the offset before this turn's messages: they all get the same body.
      const before = channel.offset - messages.length;
      const body = Buffer.from(
        `{"messages":[${messages.map((m) => `{${m}`).join(',')}],"cursor":"${channel.offset}"}`,
      );
      for (const poll of channel.polls) {
        if (poll.cursor >= channel.offset) continue;
        endPoll(poll, poll.cursor === before ? body : pollBody(channel, poll.cursor));
        channel.polls.delete(poll);
      }
    }
  }
  dirty.clear();
}

/**
 * The history after `cursorText` that is already written to live subscribers: messages of
 * this turn are still pending and reach a subscriber added now with the next flush.
 */
function replayAfter(channel: Channel, cursorText: string | null): string[] {
  const cursor = cursorText === null ? Number.NaN : Number(cursorText);
  if (!Number.isSafeInteger(cursor)) return [];
  const flushed = channel.offset - channel.pending.length;
  const firstInHistory = channel.offset - channel.history.length + 1;
  const from = Math.max(cursor + 1, firstInHistory);
  return channel.history.slice(from - firstInHistory, flushed - firstInHistory + 1);
}

/** The offset of a history message (its `"offset":N` field). */
function offsetOf(message: string): number {
  const at = message.indexOf('"offset":') + 9;
  return Number(message.slice(at, message.indexOf(',', at)));
}

function sseEvent(message: string, offset: number): string {
  return `id: ${offset}\ndata: {${message}\n\n`;
}

/** An unmasked, final text frame (RFC 6455 §5.2): servers never mask. */
function wsTextFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const length = payload.length;
  const headerLength = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81;
  if (length < 126) frame[1] = length;
  else if (length < 65536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  payload.copy(frame, headerLength);
  return frame;
}

function endPoll(poll: HeldPoll, body: Buffer): void {
  clearTimeout(poll.timer);
  poll.res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  poll.res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function handlePublish(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    let body: { channel?: unknown; data?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      sendJson(res, 400, { error: { code: 'invalid_json', message: 'the body is not valid JSON' } });
      return;
    }
    if (typeof body.channel !== 'string' || body.data === undefined || size > MAX_BODY_BYTES) {
      sendJson(res, 400, { error: { code: 'invalid_request', message: 'need {"channel","data"}' } });
      return;
    }
    const channel = body.channel;
    const dataJson = JSON.stringify(body.data);
    if (!cluster.isWorker) {
      sendJson(res, 200, { channel, offset: publish(channel, dataJson), epoch: 'raw' });
      return;
    }
    relayPublish(channel, dataJson).then((offset) => sendJson(res, 200, { channel, offset, epoch: 'raw' }));
  });
}

function openStream(res: ServerResponse, contentType: string, first: string): void {
  res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-cache, no-transform' });
  res.write(first);
}

function handleSse(channel: Channel, cursor: string | null, res: ServerResponse): void {
  openStream(
    res,
    'text/event-stream',
    `retry: 2000\n\nevent: connected\ndata: {"clientId":"raw","cursor":"${channel.offset}"}\n\n`,
  );
  const replay = replayAfter(channel, cursor);
  if (replay.length > 0) res.write(replay.map((m) => sseEvent(m, offsetOf(m))).join(''));
  channel.sse.add(res);
  res.on('close', () => channel.sse.delete(res));
}

function handleStream(channel: Channel, cursor: string | null, res: ServerResponse): void {
  openStream(
    res,
    'application/x-ndjson',
    `{"op":"connected","clientId":"raw","cursor":"${channel.offset}"}\n`,
  );
  const replay = replayAfter(channel, cursor);
  if (replay.length > 0) res.write(replay.map((m) => `{"op":"message",${m}\n`).join(''));
  channel.stream.add(res);
  res.on('close', () => channel.stream.delete(res));
}

/** The messages after `cursor` that history still holds. */
function pollBody(channel: Channel, cursor: number): Buffer {
  const missed = Math.max(0, channel.offset - cursor);
  const messages = channel.history.slice(Math.max(0, channel.history.length - missed)).map((m) => `{${m}`);
  return Buffer.from(`{"messages":[${messages.join(',')}],"cursor":"${channel.offset}"}`);
}

function handlePoll(channel: Channel, cursorText: string | null, res: ServerResponse): void {
  const cursor = cursorText === null ? Number.NaN : Number(cursorText);
  if (!Number.isSafeInteger(cursor) || cursor < channel.offset) {
    const body = pollBody(channel, Number.isSafeInteger(cursor) ? cursor : channel.offset);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
    return;
  }
  const poll: HeldPoll = {
    res,
    cursor,
    timer: setTimeout(() => {
      channel.polls.delete(poll);
      endPoll(poll, Buffer.from(`{"messages":[],"cursor":"${channel.offset}"}`));
    }, POLL_TIMEOUT_MS),
  };
  channel.polls.add(poll);
  res.on('close', () => {
    clearTimeout(poll.timer);
    channel.polls.delete(poll);
  });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://raw');
  if (req.method === 'POST' && url.pathname === '/api/publish') return handlePublish(req, res);
  const name = url.searchParams.get('channel');
  if (req.method !== 'GET' || name === null) {
    return sendJson(res, 404, { error: { code: 'not_found', message: 'no such endpoint' } });
  }
  const channel = channelOf(name);
  const cursor = url.searchParams.get('cursor');
  if (url.pathname === '/sse') return handleSse(channel, cursor, res);
  if (url.pathname === '/stream') return handleStream(channel, cursor, res);
  if (url.pathname === '/poll') return handlePoll(channel, url.searchParams.get('cursor'), res);
  sendJson(res, 404, { error: { code: 'not_found', message: 'no such endpoint' } });
});
server.keepAliveTimeout = 120_000;

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });

server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  wss.handleUpgrade(req, socket, head, (ws) => onWebSocket(ws, socket));
});

/** Commands go through `ws`; messages are written to the TCP socket as pre-built frames. */
function onWebSocket(ws: WebSocket, socket: Duplex): void {
  const joined: Channel[] = [];
  ws.send('{"op":"connected","clientId":"raw","cursor":"0"}');
  ws.on('message', (raw) => {
    let command: { id?: unknown; op?: unknown; channel?: unknown; cursor?: unknown };
    try {
      command = JSON.parse(String(raw));
    } catch {
      return;
    }
    if (command.op !== 'subscribe' || typeof command.channel !== 'string') return;
    const channel = channelOf(command.channel);
    ws.send(
      JSON.stringify({
        id: command.id,
        op: 'reply',
        channel: channel.name,
        epoch: 'raw',
        offset: channel.offset,
      }),
    );
    // `ws` writes the reply to the socket at once, so the replay follows it in order.
    const replay = replayAfter(channel, typeof command.cursor === 'string' ? command.cursor : null);
    if (replay.length > 0)
      socket.write(Buffer.concat(replay.map((m) => wsTextFrame(`{"op":"message",${m}`))));
    channel.ws.add(socket);
    joined.push(channel);
  });
  ws.on('close', () => {
    for (const channel of joined) channel.ws.delete(socket);
  });
  ws.on('error', () => ws.terminate());
}

const HEARTBEAT_MS = Number(values.heartbeat);
if (HEARTBEAT_MS > 0) {
  const wsPing = wsTextFrame('{"op":"ping"}');
  const ssePing = Buffer.from(': ping\nevent: ping\ndata: {}\n\n');
  const streamPing = Buffer.from('{"op":"ping"}\n');
  setInterval(() => {
    for (const channel of channels.values()) {
      for (const socket of channel.ws) socket.write(wsPing);
      for (const res of channel.sse) res.write(ssePing);
      for (const res of channel.stream) res.write(streamPing);
    }
  }, HEARTBEAT_MS);
}

// As large an accept queue as Pushwire's (see its LISTEN_BACKLOG): reconnect storms overflow 511.
server.listen({ port: Number(values.port), host: values.host, backlog: 4096 }, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : values.port;
  // In a cluster the primary says so once every worker listens.
  if (!cluster.isWorker) process.stdout.write(`raw listening on http://${values.host}:${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
