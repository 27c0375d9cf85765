import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { openRawClient, takeMessages } from '../helpers/clients.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

/** Enough bytes to overflow the server's 4 MiB send buffer and loopback's socket buffers. */
const MESSAGES = 400;
const PAYLOAD = 'x'.repeat(60_000);

describe('a client that stops reading', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire();
  });
  after(async () => {
    await server.stop();
  });

  test('is cut as a slow consumer (4002) while a reading client gets every message', async () => {
    const reader = openRawClient('websocket', server.url, { channels: ['flood'] });
    await reader.ready;
    const stalled = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    const subscribed = new Promise<void>((resolve, reject) => {
      stalled.once('error', reject);
      stalled.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { op: string; id?: number };
        if (frame.op === 'reply' && frame.id === 1) resolve();
      });
    });
    await new Promise((resolve) => stalled.once('open', resolve));
    stalled.send(JSON.stringify({ id: 1, op: 'subscribe', channel: 'flood' }));
    await subscribed;
    const closed = new Promise<number>((resolve) => stalled.once('close', resolve));
    // Stop reading: the server's writes pile up in the kernel, then in its own buffer.
    (stalled as unknown as { _socket: Socket })._socket.pause();

    for (let i = 0; i < MESSAGES; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, k) => server.publish('flood', `${PAYLOAD}${i + k}`)));
    }
    const got = await takeMessages(reader, MESSAGES, 30_000);
    assert.deepEqual(
      got.map((m) => m.offset),
      Array.from({ length: MESSAGES }, (_, i) => i + 1),
    );
    // Read again: what was sent before the cut arrives, then the close.
    (stalled as unknown as { _socket: Socket })._socket.resume();
    const code = await Promise.race([
      closed,
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error('never cut')), 20_000)),
    ]);
    assert.ok(code === 4002 || code === 1006, `closed with ${code}`);
    reader.close();
  });
});
