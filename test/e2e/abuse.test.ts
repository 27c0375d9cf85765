// Abusive input, one table row each, against one real `pushwire serve`: malformed request
// lines, targets, hosts and percent-encodings, header floods, slow headers and bodies, bad
// publish bodies, foreign origins, oversize, fragmented and malformed WebSocket frames,
// invalid UTF-8, deep JSON, junk floods and more connections than the caps allow. Each row
// states its exact status and error code (or close code). Meanwhile one healthy subscriber on
// the same server must receive every message published between the rows, in order, and the
// process must be alive at the end.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const MAX_PER_IP = 8;
const MAX_TOTAL = 60;
const MAX_CHANNELS = 5;
const ALLOWED_ORIGIN = 'https://app.example';
const PROXY = '127.0.0.66';

let server: RunningPushwire;
let host: string;

/** What a raw HTTP exchange came back with. */
interface Answer {
  readonly status: number;
  /** The `error.code` of a JSON error body, else null. */
  readonly code: string | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

interface RawOptions {
  /** Source address (127.0.0.0/8): each cap row has addresses of its own. */
  readonly from?: string;
  /** Written one after another, this far apart (slow clients). */
  readonly gapMs?: number;
  /** Don't wait for an answer (held polls): the open socket is returned, to close later. */
  readonly hold?: boolean;
}

const opened = new Set<Socket>();

function socketTo(from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: server.port, host: '127.0.0.1', localAddress: from }, () =>
      resolve(socket),
    );
    opened.add(socket);
    socket.once('close', () => opened.delete(socket));
    socket.once('error', reject);
  });
}

/** Sends raw bytes (in pieces, if given several) and reads the answer's status and error code. */
async function raw(pieces: string | Buffer | readonly (string | Buffer)[], options: RawOptions = {}) {
  const socket = await socketTo(options.from);
  socket.on('error', () => {});
  const chunks = Array.isArray(pieces) ? pieces : [pieces];
  let text = '';
  const answer = new Promise<Answer & { socket: Socket }>((resolve) => {
    const finish = () => resolve({ ...parseAnswer(text), socket });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const head = text.indexOf('\r\n\r\n');
      if (head === -1) return;
      const length = /\r\ncontent-length: (\d+)/i.exec(text.slice(0, head))?.[1];
      const chunked = /\r\ntransfer-encoding: chunked/i.test(text.slice(0, head));
      // A stream (SSE, held poll) answers with its head first: that is enough to judge it.
      if (length !== undefined && text.length >= head + 4 + Number(length)) finish();
      else if (length === undefined && !chunked) finish();
      else if (chunked && /\r\n0\r\n\r\n$/.test(text)) finish();
      else if (chunked && /text\/event-stream|application\/x-ndjson/.test(text.slice(0, head))) finish();
    });
    socket.on('close', finish);
  });
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0 && options.gapMs) await new Promise((resolve) => setTimeout(resolve, options.gapMs));
    if (socket.destroyed) break;
    socket.write(chunk);
  }
  // A held poll has no answer yet: its socket is handed back open.
  if (options.hold) return { status: 0, code: null, headers: {}, body: '', socket };
  const result = await answer;
  socket.destroy();
  return result;
}

function parseAnswer(text: string): Answer {
  const head = text.indexOf('\r\n\r\n');
  const lines = (head === -1 ? text : text.slice(0, head)).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = head === -1 ? '' : text.slice(head + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = body.replace(/^[0-9a-f]+\r\n/i, '');
  const code = /"error":\{"code":"([a-z_]+)"/.exec(body)?.[1] ?? null;
  return { status, code, headers, body };
}

const get = (target: string, headers: Record<string, string> = {}) =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;

function post(target: string, body: string | Buffer, headers: Record<string, string> = {}): Buffer {
  const all = {
    Host: host,
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    ...headers,
  };
  const head = `POST ${target} HTTP/1.1\r\n${Object.entries(all)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body)]);
}

const withKey = () => ({ Authorization: `Bearer ${server.apiKey}` });
const upgradeHeaders = () => ({
  Upgrade: 'websocket',
  Connection: 'Upgrade',
  'Sec-WebSocket-Version': '13',
  'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
});

// ------------------------------------------------------------------ raw WebSocket frames

/** A client frame: masked (as clients must) unless told otherwise. */
function frame(
  opcode: number,
  payload: Buffer | string,
  options: { fin?: boolean; mask?: boolean; rsv?: number } = {},
) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const { fin = true, mask = true, rsv = 0 } = options;
  const length = data.length;
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  if (length < 126) head.push((mask ? 0x80 : 0) | length);
  else if (length < 65_536) head.push((mask ? 0x80 : 0) | 126, length >> 8, length & 0xff);
  else {
    head.push((mask ? 0x80 : 0) | 127, 0, 0, 0, 0);
    head.push((length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), data]);
  const key = randomBytes(4);
  const masked = Buffer.from(data.map((byte, i) => byte ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

/** A WebSocket opened by hand: frames go out as given, and what comes back is parsed. */
interface RawWs {
  readonly socket: Socket;
  /** Text frames received, parsed. */
  readonly texts: Record<string, unknown>[];
  /** The close code the server sent (or 1006 when the socket closed without one). */
  readonly closed: Promise<number>;
  /** Resolves with the first text frame that matches. */
  next(match: (frame: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

async function rawWs(from = '127.0.0.1', headers: Record<string, string> = {}): Promise<RawWs> {
  const socket = await socketTo(from);
  socket.on('error', () => {});
  const key = randomBytes(16).toString('base64');
  socket.write(
    get('/ws', { ...upgradeHeaders(), 'Sec-WebSocket-Key': key, ...headers }).replace('\r\n\r\n', '\r\n\r\n'),
  );
  let buffer = Buffer.alloc(0);
  let upgraded = false;
  const texts: Record<string, unknown>[] = [];
  const waiters: {
    match: (f: Record<string, unknown>) => boolean;
    resolve: (f: Record<string, unknown>) => void;
  }[] = [];
  let closeCode = 1006;
  let resolveClosed!: (code: number) => void;
  const closed = new Promise<number>((resolve) => {
    resolveClosed = resolve;
  });
  let resolveOpen!: () => void;
  let rejectOpen!: (error: Error) => void;
  const open = new Promise<void>((resolve, reject) => {
    resolveOpen = resolve;
    rejectOpen = reject;
  });
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    if (!upgraded) {
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.subarray(0, end).toString('latin1');
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      if (!head.startsWith('HTTP/1.1 101') || !head.includes(accept)) {
        rejectOpen(new Error(`not upgraded: ${head.split('\r\n')[0]}`));
        return;
      }
      upgraded = true;
      buffer = buffer.subarray(end + 4);
      resolveOpen();
    }
    while (buffer.length >= 2) {
      const opcode = buffer[0]! & 0x0f;
      let length = buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + length) return;
      const payload = buffer.subarray(offset, offset + length);
      buffer = buffer.subarray(offset + length);
      if (opcode === 0x1) {
        const parsed = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
        texts.push(parsed);
        for (const waiter of [...waiters]) {
          if (waiter.match(parsed)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(parsed);
          }
        }
      } else if (opcode === 0x8) {
        closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        resolveClosed(closeCode);
        socket.end();
      }
    }
  });
  socket.on('close', () => resolveClosed(closeCode));
  await open;
  return {
    socket,
    texts,
    closed,
    next: (match) =>
      new Promise((resolve) => {
        const found = texts.find(match);
        if (found) resolve(found);
        else waiters.push({ match, resolve });
      }),
  };
}

/** Sends frames on a fresh raw WebSocket and waits for the error frame or the close it causes. */
async function wsCase(frames: readonly Buffer[], expect: { error?: string; close?: number }) {
  const ws = await rawWs();
  await ws.next((f) => f.op === 'connected');
  for (const f of frames) ws.socket.write(f);
  if (expect.close !== undefined) {
    assert.equal(await ws.closed, expect.close);
  } else {
    const error = await ws.next((f) => f.op === 'error');
    assert.equal(error.code, expect.error);
    // And the connection is still usable.
    ws.socket.write(frame(1, '{"id":"after","op":"history","channel":"a","limit":1}'));
    await ws.next((f) => f.id === 'after');
  }
  ws.socket.destroy();
}

const text = (json: unknown) => frame(1, typeof json === 'string' ? json : JSON.stringify(json));

// ------------------------------------------------------------------ the table

interface Row {
  readonly name: string;
  readonly send: () => Promise<void>;
}

/** An HTTP row: bytes in, exact status and error code (null: no JSON error body) out. */
function http(
  name: string,
  bytes: () => string | Buffer | readonly (string | Buffer)[],
  status: number,
  code: string | null,
  options: RawOptions & { check?: (answer: Answer) => void } = {},
): Row {
  return {
    name: `${name}: ${status} ${code ?? ''}`.trim(),
    send: async () => {
      const answer = await raw(bytes(), options);
      assert.equal(answer.status, status, `status of ${name}`);
      assert.equal(answer.code, code, `code of ${name}`);
      options.check?.(answer);
      if (options.hold) answer.socket.destroy();
    },
  };
}

function ws(name: string, frames: () => readonly Buffer[], expect: { error?: string; close?: number }): Row {
  return {
    name: `${name}: ${expect.error ?? `close ${expect.close}`}`,
    send: () => wsCase(frames(), expect),
  };
}

const deep = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const channels = (n: number) => Array.from({ length: n }, (_, i) => `channel=c${i}`).join('&');
const noCors = (answer: Answer) =>
  assert.equal(answer.headers['access-control-allow-origin'], undefined, 'no CORS headers');

const ROWS: readonly Row[] = [
  // Request lines and targets.
  http(
    'protocol-relative target with a bad port',
    () => 'GET //a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n',
    400,
    'invalid_request',
  ),
  http(
    'absolute target with a broken IPv6 host',
    () => 'GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n',
    400,
    'invalid_request',
  ),
  http('absolute-form target', () => get(`http://${host}/sse?channel=a`), 400, 'invalid_request'),
  http('asterisk target on GET', () => get('*'), 400, 'invalid_request'),
  http(
    'upgrade to /ws with a protocol-relative target',
    () => get('//a:99999/ws', upgradeHeaders()),
    400,
    'invalid_request',
  ),
  http(
    'upgrade to /ws with a broken IPv6 target',
    () => get('http://[::1/ws', upgradeHeaders()),
    400,
    'invalid_request',
  ),
  http('unknown method token', () => 'BLAH /sse HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'invalid_request'),
  http(
    'garbage instead of a request line',
    () => '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\r\n\r\n',
    400,
    'invalid_request',
  ),
  http(
    'control character in the target',
    () => 'GET /sse?channel=a\u0001 HTTP/1.1\r\nHost: a\r\n\r\n',
    400,
    'invalid_request',
  ),
  http('unknown HTTP version', () => 'GET /healthz HTTP/7.1\r\nHost: a\r\n\r\n', 400, 'invalid_request'),
  http(
    'space inside the target',
    () => 'GET /sse?channel=a b HTTP/1.1\r\nHost: a\r\n\r\n',
    400,
    'invalid_request',
  ),
  // Hosts.
  http('HTTP/1.1 without Host', () => 'GET /healthz HTTP/1.1\r\n\r\n', 400, 'invalid_request'),
  http(
    'HTTP/1.1 without Host, upgrading',
    () =>
      'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    400,
    'invalid_request',
  ),
  http('HTTP/1.0 without Host is fine', () => 'GET /healthz HTTP/1.0\r\n\r\n', 200, null),
  http('Host with a bad port', () => 'GET /healthz HTTP/1.1\r\nHost: a:99999\r\n\r\n', 200, null),
  http(
    'Host with a NUL byte',
    () => 'GET /healthz HTTP/1.1\r\nHost: a\u0000b\r\n\r\n',
    400,
    'invalid_request',
  ),
  // Percent-encodings and queries.
  http('channel with a broken escape', () => get('/sse?channel=%ZZ'), 400, 'invalid_channel'),
  http('channel of a truncated UTF-8 escape', () => get('/sse?channel=%E0%A4%A'), 400, 'invalid_channel'),
  http('lone percent in the path', () => get('/%'), 404, 'not_found'),
  http('encoded slash in the path', () => get('/sse%2F?channel=a'), 404, 'not_found'),
  http('encoded NUL in the query', () => get('/poll?channel=a%00'), 400, 'invalid_channel'),
  http('no channel', () => get('/sse'), 400, 'invalid_request'),
  http('same channel twice', () => get('/stream?channel=a&channel=a'), 400, 'invalid_request'),
  http(
    'more channels than allowed',
    () => get(`/sse?${channels(MAX_CHANNELS + 1)}`),
    400,
    'too_many_channels',
  ),
  http('garbage cursor', () => get('/poll?channel=a&cursor=%FF%FE'), 400, 'invalid_cursor'),
  http(
    'garbage Last-Event-ID',
    () => get('/sse?channel=a', { 'Last-Event-ID': '1~a~~~~' }),
    400,
    'invalid_cursor',
  ),
  http(
    'cursor with a huge offset',
    () => get('/poll?channel=a&cursor=1~a~Ab1~99999999999999999999999'),
    400,
    'invalid_cursor',
  ),
  // Header floods.
  http(
    'one 20 KB header',
    () => get('/healthz', { 'X-Flood': 'a'.repeat(20_000) }),
    431,
    'headers_too_large',
  ),
  http(
    'four thousand small headers',
    () => get('/healthz', Object.fromEntries(Array.from({ length: 4000 }, (_, i) => [`X-H${i}`, 'v']))),
    431,
    'headers_too_large',
  ),
  http(
    '20 KB cursor in the query',
    () => get(`/sse?channel=a&cursor=${'x'.repeat(20_000)}`),
    431,
    'headers_too_large',
  ),
  http(
    'header name with a space',
    () => 'GET /healthz HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n',
    400,
    'invalid_request',
  ),
  http(
    'obsolete line folding',
    () => 'GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: v\r\n folded\r\n\r\n',
    400,
    'invalid_request',
  ),
  // Slow clients (--request-timeout 2s).
  http(
    'headers trickled past the request timeout',
    () => ['GET /healthz HTTP/1.1\r\nHost: a\r\n', ...Array.from({ length: 12 }, () => 'X-Slow: 1\r\n')],
    408,
    'request_timeout',
    { gapMs: 400 },
  ),
  http('headers never finished', () => ['GET /healthz HTTP/1.1\r\nHost: a\r\n'], 408, 'request_timeout'),
  {
    name: 'body trickled past the request timeout: 408 request_timeout',
    send: async () => {
      const head = post('/api/publish', '', { ...withKey(), 'Content-Length': '200' });
      const answer = await raw([head, ...Array.from({ length: 20 }, () => ' ')], { gapMs: 400 });
      assert.equal(answer.status, 408);
      assert.equal(answer.code, 'request_timeout');
    },
  },
  // Framing and smuggling.
  http(
    'Content-Length with Transfer-Encoding',
    () => post('/api/publish', '0\r\n\r\n', { ...withKey(), 'Transfer-Encoding': 'chunked' }),
    400,
    'invalid_request',
  ),
  http(
    'two different Content-Lengths',
    () => `POST /api/publish HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
    400,
    'invalid_request',
  ),
  http(
    'broken chunk size',
    () =>
      `POST /api/publish HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`,
    400,
    'invalid_request',
  ),
  http(
    'negative Content-Length',
    () => post('/api/publish', '{}', { ...withKey(), 'Content-Length': '-1' }),
    400,
    'invalid_request',
  ),
  // Publish bodies.
  http('publish without a key', () => post('/api/publish', '{"channel":"a","data":1}'), 401, 'unauthorized'),
  http(
    'publish with a wrong key',
    () => post('/api/publish', '{"channel":"a","data":1}', { Authorization: 'Bearer wrong-key-wrong-key' }),
    401,
    'unauthorized',
  ),
  http(
    'publish as text/plain',
    () => post('/api/publish', '{"channel":"a","data":1}', { ...withKey(), 'Content-Type': 'text/plain' }),
    415,
    'unsupported_media_type',
  ),
  http(
    'publish of broken JSON',
    () => post('/api/publish', '{"channel":"a","data":', withKey()),
    400,
    'invalid_json',
  ),
  http(
    'publish of invalid UTF-8',
    () => post('/api/publish', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), withKey()),
    400,
    'invalid_json',
  ),
  http(
    'publish nested 20,000 deep',
    () => post('/api/publish', `{"channel":"a","data":${deep(20_000)}}`, withKey()),
    400,
    'invalid_json',
  ),
  http(
    'publish declaring 2 MB',
    () => post('/api/publish', '', { ...withKey(), 'Content-Length': String(2 * 1024 * 1024) }),
    413,
    'payload_too_large',
  ),
  http(
    "publish on the server's own channel",
    () => post('/api/publish', '{"channel":"$admin:stats","data":1}', withKey()),
    403,
    'forbidden',
  ),
  http(
    'publish on a bad channel',
    () => post('/api/publish', '{"channel":"a b","data":1}', withKey()),
    400,
    'invalid_channel',
  ),
  http(
    'publish without data',
    () => post('/api/publish', '{"channel":"a"}', withKey()),
    400,
    'invalid_request',
  ),
  http(
    'publish with a key twice',
    () => post('/api/publish', '{"channel":"a","channel":"b","data":1}', withKey()),
    400,
    'invalid_request',
  ),
  http(
    'publish with a top-level __proto__ (ignored, nothing polluted)',
    () => post('/api/publish', '{"channel":"a","data":1,"__proto__":{"x":1}}', withKey()),
    200,
    null,
  ),
  http(
    'client publish where clients may not',
    () => post('/publish', '{"channel":"a","data":1}'),
    403,
    'forbidden',
  ),
  http('GET on the publish endpoint', () => get('/api/publish'), 405, 'method_not_allowed'),
  http(
    'PUT on a transport',
    () => 'PUT /sse?channel=a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n',
    405,
    'method_not_allowed',
  ),
  http('plain GET on /ws', () => get('/ws'), 400, 'invalid_request'),
  // Origins.
  http(
    'SSE from a foreign origin',
    () => get('/sse?channel=a', { Origin: 'https://evil.example' }),
    403,
    'forbidden',
    {
      check: noCors,
    },
  ),
  http(
    'publish from a foreign origin',
    () => post('/api/publish', '{"channel":"a","data":1}', { ...withKey(), Origin: 'https://evil.example' }),
    403,
    'forbidden',
    { check: noCors },
  ),
  http(
    'preflight from a foreign origin',
    () =>
      `OPTIONS /api/publish HTTP/1.1\r\nHost: ${host}\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n\r\n`,
    403,
    'forbidden',
    { check: noCors },
  ),
  http('health from origin "null"', () => get('/healthz', { Origin: 'null' }), 403, 'forbidden', {
    check: noCors,
  }),
  http(
    'preflight from the listed origin',
    () =>
      `OPTIONS /api/publish HTTP/1.1\r\nHost: ${host}\r\nOrigin: ${ALLOWED_ORIGIN}\r\nAccess-Control-Request-Method: POST\r\n\r\n`,
    204,
    null,
    { check: (answer) => assert.equal(answer.headers['access-control-allow-origin'], ALLOWED_ORIGIN) },
  ),
  http("health from the server's own origin", () => get('/healthz', { Origin: `http://${host}` }), 200, null),
  // Upgrades.
  http(
    'upgrade to a path without WebSocket',
    () => get('/sse?channel=a', upgradeHeaders()),
    404,
    'not_found',
  ),
  http('upgrade to an unknown path', () => get('/nope', upgradeHeaders()), 404, 'not_found'),
  http(
    'WebSocket handshake without a key',
    () => get('/ws', { ...upgradeHeaders(), 'Sec-WebSocket-Key': '' }),
    400,
    'invalid_request',
  ),
  http(
    'WebSocket handshake with a key that is not 16 bytes',
    () => get('/ws', { ...upgradeHeaders(), 'Sec-WebSocket-Key': 'c2hvcnQ=' }),
    400,
    'invalid_request',
  ),
  http(
    'WebSocket handshake of an unknown version',
    () => get('/ws', { ...upgradeHeaders(), 'Sec-WebSocket-Version': '12' }),
    400,
    'invalid_request',
    { check: (answer) => assert.equal(answer.headers['sec-websocket-version'], '13, 8') },
  ),
  http(
    'WebSocket handshake with a repeated subprotocol',
    () => get('/ws', { ...upgradeHeaders(), 'Sec-WebSocket-Protocol': 'a, a' }),
    400,
    'invalid_request',
  ),
  http(
    'WebSocket handshake with a subprotocol that is not a token',
    () => get('/ws', { ...upgradeHeaders(), 'Sec-WebSocket-Protocol': 'a;b' }),
    400,
    'invalid_request',
  ),
  http(
    'WebSocket upgrade by POST',
    () => get('/ws', upgradeHeaders()).replace(/^GET/, 'POST'),
    405,
    'method_not_allowed',
  ),
  http(
    'WebSocket upgrade to another protocol',
    () => get('/ws', { ...upgradeHeaders(), Upgrade: 'h2c' }),
    400,
    'invalid_request',
  ),
  {
    name: 'WebSocket from a foreign origin: close 4504',
    send: async () => {
      const socket = new WebSocket(`ws://${host}/ws`, { origin: 'https://evil.example' });
      const code = await new Promise<number>((resolve) => socket.on('close', (c) => resolve(c)));
      assert.equal(code, 4504);
    },
  },
  // WebSocket frames (--max-message-size 4kb).
  ws('junk text frame', () => [text('not json')], { error: 'invalid_json' }),
  ws('binary frame', () => [frame(2, Buffer.from([1, 2, 3]))], { error: 'invalid_request' }),
  ws('unknown op', () => [text({ op: 'explode' })], { error: 'unknown_op' }),
  ws('frame nested 2,000 deep', () => [text(`{"op":"publish","channel":"a","data":${deep(2000)}}`)], {
    error: 'invalid_json',
  }),
  ws('subscribe to a bad channel', () => [text({ op: 'subscribe', channel: 'a b' })], {
    error: 'invalid_channel',
  }),
  ws('subscribe with a garbage cursor', () => [text({ op: 'subscribe', channel: 'a', cursor: '~~' })], {
    error: 'invalid_cursor',
  }),
  ws(
    'subscribe twice',
    () => [text({ op: 'subscribe', channel: 'a' }), text({ op: 'subscribe', channel: 'a' })],
    {
      error: 'already_subscribed',
    },
  ),
  ws('unsubscribe without a subscribe', () => [text({ op: 'unsubscribe', channel: 'a' })], {
    error: 'not_subscribed',
  }),
  ws(
    'subscribes past the channel limit',
    () => Array.from({ length: MAX_CHANNELS + 1 }, (_, i) => text({ op: 'subscribe', channel: `w${i}` })),
    { error: 'too_many_channels' },
  ),
  ws('client publish where clients may not', () => [text({ op: 'publish', channel: 'a', data: 1 })], {
    error: 'forbidden',
  }),
  ws('oversize frame', () => [text({ op: 'publish', channel: 'a', data: 'x'.repeat(8 * 1024) })], {
    close: 1009,
  }),
  ws(
    'oversize message in fragments',
    () => [
      frame(1, '{"op":"publish","channel":"a","data":"', { fin: false }),
      ...Array.from({ length: 6 }, () => frame(0, 'x'.repeat(1024), { fin: false })),
      frame(0, '"}'),
    ],
    { close: 1009 },
  ),
  ws('invalid UTF-8 in a text frame', () => [frame(1, Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))], {
    close: 1007,
  }),
  ws('continuation without a first fragment', () => [frame(0, 'x')], { close: 1002 }),
  ws('unmasked client frame', () => [frame(1, '{"op":"pong"}', { mask: false })], { close: 1002 }),
  ws('reserved bits set', () => [frame(1, '{"op":"pong"}', { rsv: 4 })], { close: 1002 }),
  ws('unknown opcode', () => [frame(0x3, 'x')], { close: 1002 }),
  ws('fragmented ping', () => [frame(0x9, 'x', { fin: false })], { close: 1002 }),
  {
    // 150 frames at once: 32 a turn, so most wait for later turns, and are taken in order.
    name: 'a burst of 150 junk frames is answered frame by frame, and the connection stays',
    send: async () => {
      const socket = await rawWs();
      await socket.next((f) => f.op === 'connected');
      const junk = Buffer.concat(Array.from({ length: 150 }, (_, i) => text(`junk ${i}`)));
      socket.socket.write(junk);
      socket.socket.write(text('{"id":"end","op":"history","channel":"a","limit":1}'));
      await socket.next((f) => f.id === 'end');
      assert.equal(socket.texts.filter((f) => f.code === 'invalid_json').length, 150);
      socket.socket.destroy();
    },
  },
  // Connection caps (--max-connections-per-ip 8, --max-connections 60).
  {
    name: `held long polls past ${MAX_PER_IP} per address: 503 too_many_connections`,
    send: async () => {
      const cursor = await pollCursor('held');
      const held = [];
      for (let i = 0; i < MAX_PER_IP; i++) {
        held.push(await raw(get(`/poll?channel=held&cursor=${cursor}`), { from: '127.0.0.3', hold: true }));
      }
      // Held polls have not answered: their sockets are open, and they count.
      await until(async () => (await openPolls()) >= MAX_PER_IP);
      const refused = await raw(get('/healthz'), { from: '127.0.0.3' });
      assert.equal(refused.status, 503);
      assert.equal(refused.code, 'too_many_connections');
      assert.equal(refused.headers['retry-after'], '5');
      for (const answer of held) answer.socket.destroy();
      // Another address is not affected.
      assert.equal((await raw(get('/healthz'), { from: '127.0.0.4' })).status, 200);
    },
  },
  {
    name: 'a WebSocket past the per-address cap: close 4005',
    send: async () => {
      const sockets = await Promise.all(Array.from({ length: MAX_PER_IP }, () => socketTo('127.0.0.5')));
      const extra = new WebSocket(`ws://${host}/ws`, { localAddress: '127.0.0.5' });
      const code = await new Promise<number>((resolve) => extra.on('close', (c) => resolve(c)));
      assert.equal(code, 4005);
      for (const socket of sockets) socket.destroy();
    },
  },
  {
    name: `more than ${MAX_TOTAL} connections in all: 503 too_many_connections`,
    send: async () => {
      // Seven per address, under the per-address cap, from as many addresses as it takes.
      const sockets: Socket[] = [];
      for (let i = 0; sockets.length < MAX_TOTAL; i++)
        sockets.push(await socketTo(`127.0.1.${10 + Math.floor(i / 7)}`));
      const refused = await raw(get('/healthz'), { from: '127.0.2.1' });
      assert.equal(refused.status, 503);
      assert.equal(refused.code, 'too_many_connections');
      for (const socket of sockets) socket.destroy();
      await until(async () => (await raw(get('/healthz'), { from: '127.0.2.1' })).status === 200);
    },
  },
  {
    name: 'behind a trusted proxy each forwarded client has its own cap; the header is believed from the proxy only',
    send: async () => {
      const forwarded = (client: string) => ({ 'X-Forwarded-For': `203.0.113.9, ${client}` });
      const cursor = await pollCursor('px');
      const held = [];
      for (let i = 0; i < MAX_PER_IP; i++) {
        const target = `/poll?channel=px&cursor=${cursor}`;
        held.push(await raw(get(target, forwarded('198.51.100.1')), { from: PROXY, hold: true }));
      }
      await until(async () => (await openPolls()) >= MAX_PER_IP);
      const refused = await raw(get('/healthz', forwarded('198.51.100.1')), { from: PROXY });
      assert.deepEqual([refused.status, refused.code], [503, 'too_many_connections']);
      const other = await raw(get('/healthz', forwarded('198.51.100.2')), { from: PROXY });
      assert.equal(other.status, 200);
      for (const answer of held) answer.socket.destroy();
      // From anyone else, X-Forwarded-For is the client's own claim: the peer is counted.
      const spoofers = await Promise.all(Array.from({ length: MAX_PER_IP }, () => socketTo('127.0.0.7')));
      const spoofed = await raw(get('/healthz', { 'X-Forwarded-For': '198.51.100.77' }), {
        from: '127.0.0.7',
      });
      assert.deepEqual([spoofed.status, spoofed.code], [503, 'too_many_connections']);
      for (const socket of spoofers) socket.destroy();
    },
  },
];

/** The current cursor of `channel`: a long poll with it is held until a message comes. */
async function pollCursor(channel: string): Promise<string> {
  const answer = await raw(get(`/poll?channel=${channel}`), { from: '127.0.0.2' });
  return encodeURIComponent((JSON.parse(answer.body) as { cursor: string }).cursor);
}

/** Long polls the server holds now, from its metrics. */
async function openPolls(): Promise<number> {
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/pushwire_connections_open\{transport="longpoll"\} (\d+)/.exec(metrics)?.[1] ?? 0);
}

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('abusive input, one row each, while a healthy subscriber keeps receiving', {
  timeout: 600_000,
}, () => {
  let healthy: WebSocket;
  const received: number[] = [];
  let healthyClosed: number | null = null;
  let sent = 0;

  before(async () => {
    server = await startPushwire({
      args: [
        '--max-connections-per-ip',
        String(MAX_PER_IP),
        '--max-connections',
        String(MAX_TOTAL),
        '--trust-proxy',
        PROXY,
        '--request-timeout',
        '2s',
        '--max-message-size',
        '4kb',
        '--max-channels',
        String(MAX_CHANNELS),
        '--cors-origins',
        ALLOWED_ORIGIN,
        '--poll-timeout',
        '60s',
        '--heartbeat-interval',
        'off',
      ],
    });
    host = `127.0.0.1:${server.port}`;
    // The healthy subscriber comes from an address of its own, so no cap row can touch it.
    healthy = new WebSocket(`ws://${host}/ws`, { localAddress: '127.0.0.2' });
    healthy.on('close', (code) => {
      healthyClosed = code;
    });
    const subscribed = new Promise<void>((resolve) =>
      healthy.on('message', (data) => {
        const frame = JSON.parse(String(data)) as {
          op: string;
          id?: number;
          channel?: string;
          data?: number;
        };
        if (frame.op === 'reply' && frame.id === 1) resolve();
        if (frame.op === 'message' && frame.channel === 'healthy') received.push(frame.data!);
      }),
    );
    await new Promise((resolve, reject) => {
      healthy.once('open', resolve);
      healthy.once('error', reject);
    });
    healthy.send('{"id":1,"op":"subscribe","channel":"healthy"}');
    await subscribed;
  });

  after(async () => {
    for (const socket of opened) socket.destroy();
    healthy?.close();
    await server?.stop();
  });

  test(`the table has at least 60 rows (${ROWS.length})`, () => {
    assert.ok(ROWS.length >= 60);
  });

  for (const row of ROWS) {
    test(row.name, async () => {
      await row.send();
      // Between rows, the healthy subscriber gets the next message.
      const seq = sent++;
      const answer = await raw(
        post('/api/publish', JSON.stringify({ channel: 'healthy', data: seq }), withKey()),
        {
          from: '127.0.0.2',
        },
      );
      assert.equal(answer.status, 200, `publish ${seq}`);
    });
  }

  test('the healthy subscriber received every message in order, and the process is alive', async () => {
    await until(async () => received.length >= sent);
    assert.deepEqual(
      received,
      Array.from({ length: sent }, (_, i) => i),
    );
    assert.equal(healthyClosed, null);
    assert.equal(server.child.exitCode, null);
    assert.equal((await raw(get('/healthz'), { from: '127.0.0.2' })).status, 200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /pushwire_connections_refused_total\{reason="max_connections_per_ip"\} [1-9]/);
    assert.match(metrics, /pushwire_connections_refused_total\{reason="max_connections"\} [1-9]/);
    assert.doesNotMatch(server.output().stderr, /"level":50/, 'no fault was logged');
  });
});
