import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { decodeCursor, PushwireError } from '../protocol/index.ts';
import { isClientGone } from './edge.ts';
import { readPublishText, readSubscribeQuery } from './request-input.ts';

const NO_HEADERS = { headers: {} } as IncomingMessage;
const cursorOf = (cursor: string) =>
  readSubscribeQuery(NO_HEADERS, new URLSearchParams({ channel: 'a', cursor }), 100, null).cursor;

test('a cursor read again, from memory, is what decoding it gives', () => {
  const text = '1~a~Ep0ch~7~b~Ep0ch~9';
  assert.deepEqual(cursorOf(text), decodeCursor(text));
  assert.deepEqual(cursorOf(text), decodeCursor(text));
});

test('an invalid cursor is refused every time it comes', () => {
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => cursorOf('1~a~Ep0ch~seven'),
      (error: unknown) => error instanceof PushwireError && error.code === 'invalid_cursor',
    );
  }
});

test('past the cursors it remembers, every cursor still reads as itself', () => {
  // Twice the memory's bound and more: it is emptied and refilled on the way.
  for (let offset = 0; offset < 2_500; offset++) {
    assert.equal(cursorOf(`1~a~Ep0ch~${offset}`)?.get('a')?.offset, offset);
  }
  // Longer than it remembers: decoded each time.
  const [c, d] = ['c'.repeat(150), 'd'.repeat(150)];
  const long = `1~${c}~Ep0ch~5~${d}~Ep0ch~6`;
  assert.equal(cursorOf(long)?.get(d)?.offset, 6);
  assert.equal(cursorOf(long)?.get(c)?.offset, 5);
});

/**
 * What `readPublishText(req, 64)` made of the one request a raw client sends (the text, or
 * the error), answered as the router answers (a refused body with `Connection: close`), and
 * what the client then got before its connection closed.
 */
async function bodyOf(send: (socket: Socket) => void): Promise<{ result: string | Error; answer: string }> {
  let outcome!: (value: string | Error) => void;
  const result = new Promise<string | Error>((resolve) => {
    outcome = resolve;
  });
  const server = createServer((req, res) => {
    readPublishText(req, 64).then(
      (text) => {
        outcome(text);
        res.end('ok');
      },
      (error: Error) => {
        outcome(error);
        res.writeHead(error instanceof PushwireError ? error.status : 500, { Connection: 'close' });
        res.end();
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let answer = '';
  socket.on('data', (data) => {
    answer += data.toString('latin1');
  });
  await once(socket, 'connect');
  send(socket);
  const value = await result;
  await Promise.race([once(socket, 'close'), new Promise((resolve) => setTimeout(resolve, 2000))]);
  socket.destroy();
  server.close();
  return { result: value, answer };
}

const CHUNKED_HEAD =
  'POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
const chunk = (text: string) => `${text.length.toString(16)}\r\n${text}\r\n`;

test('a body in several chunks is read whole', async () => {
  const { result } = await bodyOf((socket) => {
    socket.write(CHUNKED_HEAD + chunk('{"channel":'));
    setTimeout(() => socket.write(`${chunk('"a","data":1}')}0\r\n\r\n`), 20);
  });
  assert.equal(result, '{"channel":"a","data":1}');
});

test('a body past the limit is refused as it comes, and the refusal reaches the client', async () => {
  const { result, answer } = await bodyOf((socket) => {
    socket.write(CHUNKED_HEAD + chunk('x'.repeat(40)));
    setTimeout(() => socket.write(chunk('y'.repeat(40))), 20);
    // The client goes on sending after the limit: the refusal still reaches it.
    setTimeout(() => socket.write(chunk('z'.repeat(40))), 60);
  });
  assert.ok(result instanceof PushwireError);
  assert.equal(result.code, 'payload_too_large');
  assert.match(answer, /^HTTP\/1\.1 413 /);
});

test('a client that leaves mid-body is gone, not a fault', async () => {
  const { result } = await bodyOf((socket) => {
    socket.write(
      'POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"chan',
    );
    setTimeout(() => socket.destroy(), 20);
  });
  assert.ok(result instanceof Error);
  assert.ok(isClientGone(result, null), `gone: ${(result as Error & { code?: string }).code}`);
});
