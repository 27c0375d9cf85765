import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { openRawClient, type RawClient, takeMessages } from '../helpers/clients.ts';
import { AsyncQueue } from '../helpers/queue.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

/** Asserts the documented error shape and code, and returns the message. */
async function expectError(response: Response, status: number, code: string): Promise<string> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  return body.error.message;
}

describe('bad input gets the documented error and harms no one else', () => {
  let server: RunningPushwire;
  let bystander: RawClient;

  before(async () => {
    server = await startPushwire({ args: ['--max-message-size', '1kb', '--max-channels', '3'] });
    // A healthy subscriber that must keep getting messages through all of the below.
    bystander = openRawClient('websocket', server.url, { channels: ['bystander'] });
    await bystander.ready;
  });
  after(async () => {
    bystander.close();
    await server.stop();
  });

  const publish = (body: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json', ...headers },
      body,
    });

  describe('POST /api/publish', () => {
    test('malformed JSON', async () => {
      await expectError(await publish('{"channel":"a",'), 400, 'invalid_json');
    });
    test('missing and wrong API key', async () => {
      const missing = await fetch(`${server.url}/api/publish`, {
        method: 'POST',
        body: '{"channel":"a","data":1}',
      });
      await expectError(missing, 401, 'unauthorized');
      await expectError(
        await publish('{"channel":"a","data":1}', { Authorization: 'Bearer wrong' }),
        401,
        'unauthorized',
      );
    });
    test('bad channel names', async () => {
      for (const channel of ['', 'has space', 'a~b', 'x'.repeat(201), 42, ':leading']) {
        const message = await expectError(
          await publish(JSON.stringify({ channel, data: 1 })),
          400,
          'invalid_channel',
        );
        assert.ok(message.includes('channel'), message);
      }
    });
    test('no data, not an object', async () => {
      await expectError(await publish('{"channel":"a"}'), 400, 'invalid_request');
      await expectError(await publish('[1,2]'), 400, 'invalid_request');
    });
    test('oversize body and oversize data', async () => {
      await expectError(
        await publish(JSON.stringify({ channel: 'a', data: 'x'.repeat(5000) })),
        413,
        'payload_too_large',
      );
      await expectError(
        await publish(JSON.stringify({ channel: 'a', data: 'x'.repeat(1500) })),
        413,
        'payload_too_large',
      );
    });
    test('wrong method and a multipart body', async () => {
      await expectError(await fetch(`${server.url}/api/publish`), 405, 'method_not_allowed');
      const form = new FormData();
      form.set('channel', 'a');
      const multipart = await fetch(`${server.url}/api/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${server.apiKey}` },
        body: form,
      });
      await expectError(multipart, 415, 'unsupported_media_type');
    });
  });

  describe('subscribe over SSE, stream and long poll', () => {
    for (const path of ['sse', 'stream', 'poll']) {
      test(`/${path}: bad channel, no channel, too many, garbage and impossible cursors`, async () => {
        const get = (query: string) => fetch(`${server.url}/${path}?${query}`);
        await expectError(await get('channel=bad%20name'), 400, 'invalid_channel');
        await expectError(await get(''), 400, 'invalid_request');
        await expectError(await get('channel=a&channel=a'), 400, 'invalid_request');
        await expectError(await get('channel=a&channel=b&channel=c&channel=d'), 400, 'too_many_channels');
        for (const cursor of ['garbage', '2~a~e~1', '1~a~e', '1~a~e~-1', '1~a~e~1~a~e~2', '1~bad name~e~1']) {
          await expectError(
            await get(`channel=a&cursor=${encodeURIComponent(cursor)}`),
            400,
            'invalid_cursor',
          );
        }
        const { epoch } = await server.publish(`ahead-${path}`, 1);
        await expectError(
          await get(`channel=ahead-${path}&cursor=1~ahead-${path}~${epoch}~99`),
          400,
          'invalid_cursor',
        );
      });
    }
    test('unknown path and a plain GET of /ws', async () => {
      await expectError(await fetch(`${server.url}/nope`), 404, 'not_found');
      await expectError(await fetch(`${server.url}/ws`), 400, 'invalid_request');
    });
  });

  describe('WebSocket frames', () => {
    let ws: WebSocket;
    const frames = new AsyncQueue<Record<string, unknown>>();
    before(async () => {
      ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
      ws.on('message', (raw) => frames.push(JSON.parse(raw.toString()) as Record<string, unknown>));
      await frames.nextMatching((f) => f.op === 'connected');
    });
    after(() => ws.close());

    const expectFrameError = async (send: string | Buffer, code: string, id?: number) => {
      ws.send(send);
      const frame = await frames.nextMatching((f) => f.op === 'error', 5000, `error ${code}`);
      assert.equal(frame.code, code, JSON.stringify(frame));
      assert.equal(frame.id, id);
      assert.equal(typeof frame.message, 'string');
    };

    test('malformed JSON, non-objects, binary frames', async () => {
      await expectFrameError('{"op":', 'invalid_json');
      await expectFrameError('[1]', 'invalid_request');
      await expectFrameError(Buffer.from([1, 2, 3]), 'invalid_request');
    });
    test('unknown op, missing op, bad id', async () => {
      await expectFrameError('{"id":7,"op":"dance"}', 'unknown_op', 7);
      await expectFrameError('{"id":8}', 'invalid_request', 8);
      await expectFrameError('{"id":{},"op":"subscribe","channel":"a"}', 'invalid_request');
    });
    test('bad channel, garbage cursor, forbidden publish', async () => {
      await expectFrameError('{"id":1,"op":"subscribe","channel":"no good"}', 'invalid_channel', 1);
      await expectFrameError('{"id":2,"op":"subscribe","channel":"a","cursor":"zzz"}', 'invalid_cursor', 2);
      await expectFrameError('{"id":3,"op":"publish","channel":"a","data":1}', 'forbidden', 3);
      await expectFrameError('{"id":4,"op":"publish","channel":"a"}', 'invalid_request', 4);
    });
    test('double subscribe and unsubscribe of a channel not subscribed', async () => {
      ws.send('{"id":10,"op":"subscribe","channel":"twice"}');
      await frames.nextMatching((f) => f.id === 10 && f.op === 'reply');
      await expectFrameError('{"id":11,"op":"subscribe","channel":"twice"}', 'already_subscribed', 11);
      await expectFrameError('{"id":12,"op":"unsubscribe","channel":"never"}', 'not_subscribed', 12);
    });
    test('an oversize frame closes only that connection, with 1009', async () => {
      const big = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
      await new Promise((resolve) => big.once('open', resolve));
      const closed = new Promise<number>((resolve) => big.once('close', resolve));
      big.on('error', () => {});
      big.send(JSON.stringify({ op: 'publish', channel: 'a', data: 'x'.repeat(10_000) }));
      assert.equal(await closed, 1009);
    });
  });

  test('the server kept serving everyone else', async () => {
    await server.publish('bystander', 'still here');
    const [message] = await takeMessages(bystander, 1);
    assert.equal(message!.data, 'still here');
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
  });
});
