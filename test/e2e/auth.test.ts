import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { openRawClient, takeMessages } from '../helpers/clients.ts';
import { AsyncQueue } from '../helpers/queue.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';

function token(claims: Record<string, unknown>, expiresIn = '1h'): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(SECRET));
}

describe('connection tokens', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
  });
  after(async () => {
    await server.stop();
  });

  const errorOf = async (response: Response) =>
    ((await response.json()) as { error: { code: string; message: string } }).error;

  test('no token, a bad one, an expired one, one without exp: 401 with the reason', async () => {
    for (const path of ['sse', 'stream', 'poll']) {
      const none = await fetch(`${server.url}/${path}?channel=a`);
      assert.equal(none.status, 401);
      assert.equal((await errorOf(none)).code, 'unauthorized');
    }
    const forged = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-another'));
    assert.equal(
      (await errorOf(await fetch(`${server.url}/sse?channel=a&token=${forged}`))).message,
      'the token is invalid',
    );
    const expired = await token({ sub: 'x' }, '-1m');
    assert.match(
      (await errorOf(await fetch(`${server.url}/sse?channel=a&token=${expired}`))).message,
      /expired/,
    );
    const noExp = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(SECRET));
    assert.equal((await fetch(`${server.url}/sse?channel=a&token=${noExp}`)).status, 401);
  });

  test('a WebSocket without a valid token is told why: an error frame, then close 4501', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    const frames: string[] = [];
    ws.on('message', (data) => frames.push(String(data)));
    const [code, reason] = await new Promise<[number, string]>((resolve) => {
      ws.on('close', (closeCode, closeReason) => resolve([closeCode, String(closeReason)]));
      ws.on('error', () => {});
    });
    assert.equal(code, 4501);
    assert.equal(reason, 'unauthorized');
    assert.equal(frames.length, 1);
    const frame = JSON.parse(frames[0]!);
    assert.equal(frame.op, 'error');
    assert.equal(frame.code, 'unauthorized');
    assert.match(frame.message, /token is required/);
  });

  test('the channels claim limits subscribing; the publish claim allows publishing', async () => {
    const jwt = await token({ sub: 'ada', channels: ['room:*', 'news'], publish: ['room:*'] });
    const allowed = openRawClient('sse', server.url, { channels: ['room:1', 'news'], token: jwt });
    await allowed.ready;
    await server.publish('room:1', 'hello');
    assert.equal((await takeMessages(allowed, 1))[0]!.data, 'hello');
    allowed.close();

    const denied = await fetch(`${server.url}/stream?channel=secret&token=${jwt}`);
    assert.equal(denied.status, 403);
    assert.equal((await errorOf(denied)).code, 'forbidden');

    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws?token=${jwt}`);
    const frames = new AsyncQueue<Record<string, unknown>>();
    ws.on('message', (raw) => frames.push(JSON.parse(raw.toString())));
    await frames.nextMatching((f) => f.op === 'connected');
    ws.send(JSON.stringify({ id: 1, op: 'publish', channel: 'room:2', data: { by: 'ada' } }));
    const reply = await frames.nextMatching((f) => f.id === 1);
    assert.equal(reply.op, 'reply', JSON.stringify(reply));
    ws.send(JSON.stringify({ id: 2, op: 'publish', channel: 'news', data: 1 }));
    assert.equal((await frames.nextMatching((f) => f.id === 2)).code, 'forbidden');
    ws.send(JSON.stringify({ id: 3, op: 'subscribe', channel: 'secret' }));
    assert.equal((await frames.nextMatching((f) => f.id === 3)).code, 'forbidden');
    ws.close();
  });
});

describe('client publishes', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--config', 'test/fixtures/game-namespace.yaml'] });
  });
  after(async () => {
    await server.stop();
  });

  const clientPublish = (channel: string, data: unknown, client = 'tab-1') =>
    fetch(`${server.url}/publish`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Pushwire-Client': client },
      body: JSON.stringify({ channel, data }),
    });

  test('POST /publish works where the namespace allows clients, and nowhere else', async () => {
    const subscriber = openRawClient('longpoll', server.url, { channels: ['game:board'] });
    await subscriber.ready;
    const ok = await clientPublish('game:board', { x: 1 });
    assert.equal(ok.status, 200);
    assert.equal((await takeMessages(subscriber, 1))[0]!.offset, 1);
    subscriber.close();
    const denied = await clientPublish('chat:lobby', { x: 1 });
    assert.equal(denied.status, 403);
  });

  test('a client past its publish rate gets 429 rate_limited; other clients are not slowed', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    // Until refused: on a loaded machine the bucket refills while the requests go one by one.
    for (let i = 0; i < 300 && !statuses.includes(429); i++) {
      // Read to the end, so that the next publish goes on the same kept-alive connection.
      const res = await clientPublish('game:flood', i, 'flooder');
      await res.arrayBuffer();
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    assert.ok(statuses.includes(429), `statuses: ${statuses.join(',')}`);
    assert.equal(retryAfter, '1', 'the refusal says when to try again: every rate refills within a second');
    // The burst (twice the rate of 10/s) passes first; tokens refilled meanwhile may add a few.
    assert.ok(statuses.indexOf(429) >= 20, `first 429 at ${statuses.indexOf(429)}`);
    // The limit is the connection's: another connection is not slowed.
    assert.equal(await publishOnNewConnection(server.url, 'game:flood', 'calm'), 200);
  });
});

/** A client publish on a connection of its own (fetch would reuse a pooled one). */
function publishOnNewConnection(base: string, channel: string, data: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/publish`,
      { method: 'POST', agent: false, headers: { 'Content-Type': 'application/json' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ channel, data }));
  });
}
