import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { chunkOf, writeFramed } from './http-stream.ts';

const PING = ': ping\nevent: ping\ndata: {}\n\n';
const FRAMED = chunkOf(PING);

/** Each response writes a first chunk, then the ping by res.write and by writeFramed. */
const server = createServer((_req, res: ServerResponse) => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream' });
  res.write('retry: 2000\n\n');
  res.write(PING);
  writeFramed(res, PING, FRAMED);
  res.end();
});
let port = 0;

before(async () => {
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  port = (server.address() as { port: number }).port;
});
after(() => server.close());

/** Sends a raw request and returns the bytes after the head, as they came. */
function bodyOf(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve(text.slice(text.indexOf('\r\n\r\n') + 4));
    });
  });
}

test('the framed ping is the chunk res.write makes, byte for byte', async () => {
  const body = await bodyOf('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const chunk = `${Buffer.byteLength(PING).toString(16)}\r\n${PING}\r\n`;
  assert.equal(FRAMED.toString('latin1'), chunk);
  assert.equal(body, `d\r\nretry: 2000\n\n\r\n${chunk}${chunk}0\r\n\r\n`);
});

test('without chunked framing (HTTP/1.0, HEAD) the ping goes through res.write', async () => {
  assert.equal(await bodyOf('GET / HTTP/1.0\r\n\r\n'), `retry: 2000\n\n${PING}${PING}`);
  assert.equal(await bodyOf('HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), '');
});
