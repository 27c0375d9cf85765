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
