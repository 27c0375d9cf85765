// Nothing a client sends can throw out of a parser or a handler: arbitrary request targets,
// headers, query strings, cursors, publish bodies and WebSocket frames, fed to the real
// parsers and to a real router on a loopback server, are answered with a documented 4xx (or
// served), never with `internal`, never with a fault in the log, and the server stays up.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import {
  decodeCursor,
  isErrorCode,
  PushwireError,
  parseClientCommand,
  readPublication,
  readPublications,
} from '../protocol/index.ts';
import { createPushwire, type Pushwire } from './create-pushwire.ts';
import { clientErrorOf, faultOf } from './edge.ts';
import { readSubscribeQuery } from './request-input.ts';
import { readTarget } from './request-target.ts';

/** Runs `fn`; anything it throws must be a PushwireError with a client (4xx) code. */
function onlyClientErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof PushwireError, `threw ${String(error)}`);
    assert.ok(error.status >= 400 && error.status < 500, `threw ${error.code}`);
  }
}

/** Strings a client could send, biased toward the characters parsers trip over. */
const hostile = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc
    .array(fc.constantFrom(...'/?#%[]:@!~.,=&;aZ09\\\u0000\u0001\t\n\r\u007f\u00ff'.split('')), {
      maxLength: 80,
    })
    .map((chars) => chars.join('')),
  fc.constantFrom('//a:99999/', 'http://[::1/', '/%', '/%ZZ', '/?%', '//', '/\u0000', '*', ''),
);

test('request targets never throw, and only paths are read', () => {
  fc.assert(
    fc.property(hostile, (raw) => {
      const target = readTarget(raw);
      if (target !== null) assert.ok(target.path.startsWith('/') && !target.path.startsWith('//'));
    }),
    { numRuns: 2000 },
  );
  assert.equal(readTarget('//a:99999/'), null);
  assert.equal(readTarget('http://[::1/'), null);
});

test('query strings and cursors are refused with client errors only', () => {
  const req = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
  fc.assert(
    fc.property(hostile, hostile, (query, header) => {
      const params = new URLSearchParams(query);
      onlyClientErrors(() =>
        readSubscribeQuery(req({ 'last-event-id': header }), params, 100, 'last-event-id'),
      );
      onlyClientErrors(() => decodeCursor(header));
    }),
    { numRuns: 2000 },
  );
});

test('publish bodies and frames are refused with client errors only', () => {
  const json = fc.oneof(
    hostile,
    fc.json({ maxDepth: 4 }),
    fc.jsonValue({ maxDepth: 3 }).map((data) => JSON.stringify({ channel: 'a', data })),
    fc.nat(200_000).map((depth) => `{"channel":"a","data":${'['.repeat(depth)}`),
  );
  fc.assert(
    fc.property(json, (text) => {
      onlyClientErrors(() => readPublication(text, 65_536));
      onlyClientErrors(() => readPublications(text, 65_536, 1000));
      const parsed = parseClientCommand(text);
      if (!parsed.ok) assert.ok(isErrorCode(parsed.error.code) && parsed.error.status < 500);
    }),
    { numRuns: 1000 },
  );
});

test('what Node refuses to parse is answered with a client error; faults never carry a message', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), (code, message) => {
      const error = Object.assign(new Error(`CLIENT-BYTES${message}`), { code });
      assert.ok(clientErrorOf(error).status < 500);
      assert.ok(!JSON.stringify(faultOf(error)).includes('CLIENT-BYTES'));
    }),
  );
});

describeServer();

function describeServer(): void {
  let server: Server;
  let pushwire: Pushwire;
  let port: number;
  const logged: string[] = [];

  before(async () => {
    server = createServer();
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logged.push(line) });
    pushwire = await createPushwire(server, {
      logger,
      tokenSecret: 'a-secret-of-at-least-thirty-two-bytes!',
      clientPublish: true,
      clientPublishRate: 0,
      // The frames come as fast as the test can send them: the command rate is another test's.
      maxCommandsPerSecond: 0,
      corsOrigins: ['https://app.example'],
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await pushwire.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends raw bytes and resolves with the status of the answer (0: closed without one). */
  function exchange(bytes: Buffer | string): Promise<{ status: number; body: string }> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
      let answer = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        answer += chunk;
      });
      const done = () => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
        resolve({ status, body: answer.slice(answer.indexOf('\r\n\r\n') + 4) });
      };
      socket.on('close', done);
      socket.on('error', () => socket.destroy());
      // Streams (SSE, long poll) stay open: what matters is their status line.
      socket.setTimeout(1500, () => socket.destroy());
    });
  }

  const path = fc.constantFrom(
    '/sse',
    '/poll',
    '/stream',
    '/ws',
    '/publish',
    '/api/publish',
    '/healthz',
    '/x',
  );
  const method = fc.constantFrom('GET', 'POST', 'OPTIONS', 'HEAD', 'PUT', 'GET');
  const token = fc.stringMatching(/^[!-~]{0,40}$/);
  const headerValue = fc.stringMatching(/^[ -~]{0,60}$/);
  const headerName = fc.constantFrom(
    'Origin',
    'Authorization',
    'Content-Type',
    'Last-Event-ID',
    'X-Pushwire-Client',
    'Upgrade',
    'Connection',
    'Sec-WebSocket-Key',
    'Sec-WebSocket-Version',
    'Content-Length',
    'Transfer-Encoding',
    'Host',
    'X-Forwarded-For',
  );

  test('arbitrary requests to the real router never get internal, never log a fault', {
    timeout: 120_000,
  }, async () => {
    await fc.assert(
      fc.asyncProperty(
        method,
        path,
        token,
        fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
        fc.oneof(fc.string({ maxLength: 300 }), fc.json()),
        async (verb, where, query, headers, body) => {
          const lines = [`${verb} ${where}?${query} HTTP/1.1`, 'Host: 127.0.0.1'];
          for (const [name, value] of headers) lines.push(`${name}: ${value}`);
          const bytes = `${lines.join('\r\n')}\r\n\r\n${body}`;
          const { status, body: answer } = await exchange(bytes);
          assert.ok(status < 500 || status === 503, `${status} ${answer} for ${JSON.stringify(bytes)}`);
        },
      ),
      { numRuns: 150 },
    );
    assert.deepEqual(
      logged.filter((line) => line.includes('"level":50')),
      [],
    );
    assert.equal((await exchange('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n')).status, 200);
  });

  test('arbitrary WebSocket frames are answered, never with internal, and the connection stays', {
    timeout: 120_000,
  }, async () => {
    const token = await signedToken();
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`);
    const errors: string[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { op?: string; code?: string; error?: { code: string } };
      const code = frame.error?.code ?? frame.code;
      if (code === 'internal') errors.push(String(data));
    });
    const connected = new Promise((resolve, reject) => {
      ws.on('message', (data) => {
        if (String(data).includes('"op":"connected"')) resolve(undefined);
        if (String(data).includes('"op":"error"') && !String(data).includes('"id"'))
          reject(new Error(String(data)));
      });
      ws.once('error', reject);
      ws.once('close', (code) => reject(new Error(`closed ${code}`)));
    });
    await connected;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          hostile,
          fc.json({ maxDepth: 3 }),
          fc
            .record({
              id: fc.oneof(fc.nat(), fc.string()),
              op: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'history', 'presence', 'pong', 'x'),
              channel: fc.oneof(fc.string({ maxLength: 20 }), fc.constant('a')),
              cursor: fc.oneof(fc.string(), fc.constant(undefined)),
              data: fc.jsonValue({ maxDepth: 2 }),
            })
            .map((command) => JSON.stringify(command)),
        ),
        async (frame) => {
          ws.send(frame);
        },
      ),
      { numRuns: 400 },
    );
    // A round trip after the flood: every frame before it was handled.
    const pong = new Promise<string>((resolve) =>
      ws.on('message', (data) => {
        if (String(data).includes('"id":"last"')) resolve(String(data));
      }),
    );
    ws.send('{"id":"last","op":"history","channel":"a","limit":1}');
    await pong;
    assert.equal(ws.readyState, WebSocket.OPEN);
    assert.deepEqual(errors, []);
    ws.close();
  });
}

async function signedToken(): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({ sub: 'prop', channels: ['*'], publish: ['*'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('a-secret-of-at-least-thirty-two-bytes!'));
}
