import assert from 'node:assert/strict';
import { Agent, get } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { openRawClient, type RawClient, takeMessages } from '../helpers/clients.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const SECRET = 'a-long-poll-test-secret-long-enough-for-hs256';

/**
 * Long polls on a channel the node already follows are answered from memory, without a
 * session or a history read: these check that this path loses, repeats and leaks nothing.
 */
describe('long polling from memory', () => {
  let server: RunningPushwire;
  const open: RawClient[] = [];
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
  });
  after(async () => {
    for (const client of open) client.close();
    await server.stop();
  });

  const signed = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));

  test('25 pollers of a busy channel each get all 300 messages once, in order', async () => {
    const token = await signed({ sub: 'poller', channels: ['busy'] });
    const pollers = Array.from({ length: 25 }, () =>
      openRawClient('longpoll', server.url, { channels: ['busy'], token }),
    );
    open.push(...pollers);
    await Promise.all(pollers.map((poller) => poller.ready));
    // Bursts of concurrent publishes: polls come back while some of a turn's messages are out.
    for (let burst = 0; burst < 30; burst++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => server.publish('busy', burst * 10 + i)));
    }
    for (const poller of pollers) {
      const messages = await takeMessages(poller, 300, 20_000);
      assert.deepEqual(
        messages.map((m) => m.offset),
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
    }
    const polled = await fetch(
      `${server.url}/poll?channel=busy&token=${token}&cursor=${pollers[0]!.cursor()}`,
      {
        signal: AbortSignal.timeout(200),
      },
    ).catch((error: Error) => error);
    assert.ok(polled instanceof Error, 'a poll at the latest position waits for the next message');
  });

  test('a poll with a cursor of a channel its token may not read is refused, busy channel or not', async () => {
    const reader = await signed({ sub: 'reader', channels: ['busy'] });
    const first = await fetch(`${server.url}/poll?channel=busy&token=${reader}`);
    const { cursor } = (await first.json()) as { cursor: string };
    const limited = await signed({ sub: 'limited', channels: ['other'] });
    const refused = await fetch(`${server.url}/poll?channel=busy&token=${limited}&cursor=${cursor}`);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'forbidden');
  });

  test('a poll client that comes back after a 6 s pause finds its keep-alive connection open', async () => {
    const token = await signed({ sub: 'pauser', channels: ['pause'] });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const poll = () =>
      new Promise<number>((resolve, reject) => {
        get(`${server.url}/poll?channel=pause&token=${token}`, { agent }, (res) => {
          const port = res.socket.localPort!;
          res.resume();
          res.on('end', () => resolve(port));
        }).on('error', reject);
      });
    const firstPort = await poll();
    // Longer than Node's default keep-alive timeout (5 s), which closed such sockets under
    // slow clients: a poll sent as the server closed failed with "socket hang up".
    await new Promise((resolve) => setTimeout(resolve, 6000));
    assert.equal(await poll(), firstPort, 'the second poll went over the same connection');
    agent.destroy();
  });
});

/**
 * With the default settings a poller comes back to find everything it missed, however many
 * messages came meanwhile: history keeps the last --history-min-age (2 minutes), not only the last
 * --history-size (100) messages.
 */
describe('a slow long-poll client with the default history settings', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire();
  });
  after(async () => {
    await server.stop();
  });

  test('polling once per 300 messages at 100 msg/s, it gets every message, with no gap', async () => {
    const first = (await (await fetch(`${server.url}/poll?channel=slow`)).json()) as { cursor: string };
    let cursor = first.cursor;
    const offsets: number[] = [];
    let next = 1;
    for (let round = 0; round < 3; round++) {
      // 300 messages, ten every 100 ms: three times the default history size between two polls.
      for (let tick = 0; tick < 30; tick++) {
        const started = Date.now();
        await Promise.all(Array.from({ length: 10 }, () => server.publish('slow', { n: next++ })));
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - started))));
      }
      const answer = (await (
        await fetch(`${server.url}/poll?channel=slow&cursor=${encodeURIComponent(cursor)}`)
      ).json()) as { messages: { offset: number }[]; cursor: string; gaps?: unknown[] };
      assert.equal(answer.gaps, undefined, `no gap in round ${round + 1}`);
      offsets.push(...answer.messages.map((m) => m.offset));
      cursor = answer.cursor;
    }
    assert.deepEqual(
      offsets,
      Array.from({ length: 900 }, (_, i) => i + 1),
    );
  });
});

/**
 * `wait=0`: a poll that resumes answers at once, with what is past its cursor or with nothing,
 * so a client comes back in one request. Without it such a poll is held for the next message.
 */
describe('a poll with wait=0', () => {
  let server: RunningPushwire;
  let reader: string;
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(SECRET));
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
    reader = await sign({ sub: 'reader', channels: ['*'] });
  });
  after(async () => {
    await server.stop();
  });

  interface Answer {
    messages: { channel: string; offset: number }[];
    cursor: string;
    gaps?: { channel: string; reason: string }[];
  }
  // Held past this, a poll is a poll that waited: the server's poll timeout is 25 s.
  const poll = async (query: string): Promise<Answer> => {
    const response = await fetch(`${server.url}/poll?${query}&token=${reader}`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as Answer;
  };
  const q = encodeURIComponent;

  test('on a channel the server follows: what is past the cursor, then nothing, both at once', async () => {
    const { cursor: start } = await poll('channel=now');
    await server.publish('now', 1);
    const held = await poll(`channel=now&cursor=${q(start)}`);
    for (let i = 2; i <= 5; i++) await server.publish('now', i);
    const behind = await poll(`channel=now&cursor=${q(held.cursor)}&wait=0`);
    assert.deepEqual(
      behind.messages.map((m) => m.offset),
      [2, 3, 4, 5],
    );
    const caughtUp = await poll(`channel=now&cursor=${q(behind.cursor)}&wait=0`);
    assert.deepEqual(caughtUp.messages, []);
    assert.equal(caughtUp.cursor, behind.cursor, 'nothing new: the cursor stays where it was');
    const waiting = await fetch(
      `${server.url}/poll?channel=now&cursor=${q(behind.cursor)}&wait=1&token=${reader}`,
      {
        signal: AbortSignal.timeout(300),
      },
    ).catch((error: Error) => error);
    assert.ok(waiting instanceof Error, 'wait=1, the default, still waits');
  });

  test('on several channels: history and the other channels’ positions, at once', async () => {
    const { cursor: aOnly } = await poll('channel=a');
    await server.publish('a', 'missed');
    await server.publish('b', 'before b was followed');
    const answer = await poll(`channel=a&channel=b&cursor=${q(aOnly)}&wait=0`);
    assert.deepEqual(
      answer.messages.map((m) => [m.channel, m.offset]),
      [['a', 1]],
    );
    await server.publish('b', 'next');
    const next = await poll(`channel=a&channel=b&cursor=${q(answer.cursor)}&wait=0`);
    assert.deepEqual(
      next.messages.map((m) => [m.channel, m.offset]),
      [['b', 2]],
      'the answer’s cursor named b where it stood',
    );
  });

  test('a broken stream is reported at once as a gap', async () => {
    await server.publish('epochs', 1);
    const { cursor } = await poll('channel=epochs');
    const stale = cursor.replace(/~[^~]+~(\d+)$/, '~AAAAAAAA~$1');
    const answer = await poll(`channel=epochs&cursor=${q(stale)}&wait=0`);
    assert.equal(answer.gaps?.[0]?.reason, 'epoch');
  });

  test('the rights are checked as on any poll, and wait takes only 0 or 1', async () => {
    const token = await sign({ sub: 'limited', channels: ['other'] });
    const { cursor } = await poll('channel=now');
    const refused = await fetch(`${server.url}/poll?channel=now&cursor=${q(cursor)}&wait=0&token=${token}`);
    assert.equal(refused.status, 403);
    const bad = await fetch(`${server.url}/poll?channel=now&wait=yes&token=${reader}`);
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'invalid_request');
  });
});

/**
 * `cursors=0`: messages are listed without their cursors, the answer's cursor after them being
 * where the client stands after the last; otherwise the same answer. It is how the SDK polls.
 */
describe('a poll with cursors=0', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire();
  });
  after(async () => {
    await server.stop();
  });

  interface Answer {
    messages: Record<string, unknown>[];
    cursor: string;
  }
  const poll = async (query: string): Promise<Answer> => {
    const response = await fetch(`${server.url}/poll?${query}`, { signal: AbortSignal.timeout(5000) });
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as Answer;
  };
  const q = encodeURIComponent;
  const withoutCursor = ({ cursor: _cursor, ...rest }: Record<string, unknown>) => rest;

  test('from memory, and held for the next message: the same messages without their cursors', async () => {
    const { cursor: start } = await poll('channel=lean');
    for (let i = 1; i <= 3; i++) await server.publish('lean', { i });
    const lean = await poll(`channel=lean&cursor=${q(start)}&cursors=0`);
    const full = await poll(`channel=lean&cursor=${q(start)}`);
    assert.deepEqual(
      lean.messages.map((m) => [m.offset, 'cursor' in m]),
      [
        [1, false],
        [2, false],
        [3, false],
      ],
    );
    assert.deepEqual(
      full.messages.map((m) => typeof m.cursor),
      ['string', 'string', 'string'],
    );
    assert.deepEqual(lean.messages, full.messages.map(withoutCursor));
    assert.equal(lean.cursor, full.cursor);
    assert.equal(lean.cursor, full.messages[2]!.cursor, 'the answer’s cursor is the last message’s');

    const held = poll(`channel=lean&cursor=${q(lean.cursor)}&cursors=0`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.publish('lean', { i: 4 });
    const next = await held;
    assert.deepEqual(
      next.messages.map((m) => [m.offset, 'cursor' in m]),
      [[4, false]],
    );
  });

  test('on several channels: no message carries the connection’s cursor', async () => {
    const { cursor } = await poll('channel=x&channel=y');
    await server.publish('x', 1);
    await server.publish('y', 2);
    const lean = await poll(`channel=x&channel=y&cursor=${q(cursor)}&wait=0&cursors=0`);
    const full = await poll(`channel=x&channel=y&cursor=${q(cursor)}&wait=0`);
    assert.deepEqual(
      lean.messages.map((m) => [m.channel, 'cursor' in m]),
      [
        ['x', false],
        ['y', false],
      ],
    );
    assert.deepEqual(lean.messages, full.messages.map(withoutCursor));
    assert.match(String(full.messages[0]!.cursor), /~x~.*~y~/, 'by default each carries both channels');
    assert.equal(lean.cursor, full.cursor);
  });

  test('cursors takes only 0 or 1', async () => {
    const bad = await fetch(`${server.url}/poll?channel=lean&cursors=no`);
    assert.equal(bad.status, 400);
    const { error } = (await bad.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'invalid_request');
    assert.match(error.message, /cursors must be 0 or 1/);
  });
});
