import assert from 'node:assert/strict';
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
    const token = await signed({ sub: 'poller' });
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
    const reader = await signed({ sub: 'reader' });
    const first = await fetch(`${server.url}/poll?channel=busy&token=${reader}`);
    const { cursor } = (await first.json()) as { cursor: string };
    const limited = await signed({ sub: 'limited', channels: ['other'] });
    const refused = await fetch(`${server.url}/poll?channel=busy&token=${limited}&cursor=${cursor}`);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'forbidden');
  });
});
