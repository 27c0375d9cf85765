import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { cleanPrefix, redisUrl, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { collect, openWire } from '../helpers/token-clients.ts';

const SECRET = 'a-token-test-secret-that-is-long-enough-for-hs256';

function token(claims: Record<string, unknown>, seconds: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(SECRET));
}

async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('refresh and channel changes reach a connection on another node', { timeout: 120_000 }, () => {
  const prefix = uniquePrefix();
  let a: RunningPushwire;
  let b: RunningPushwire;

  before(async () => {
    const args = [
      '--broker',
      'redis',
      '--redis-url',
      redisUrl(),
      '--redis-prefix',
      prefix,
      '--token-secret',
      SECRET,
    ];
    [a, b] = await Promise.all([startPushwire({ args }), startPushwire({ args })]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cleanPrefix(prefix);
  });

  test('POST /refresh, /subscribe and /unsubscribe on node B act on an SSE connection of node A, with its key only', async () => {
    const jwt = await token({ sub: 'ada', channels: ['r:*'] }, 120);
    const client = openWire('sse', a.url, { channels: ['r:one'], token: () => jwt });
    try {
      const connected = await client.connected;
      await collect(client, (event) => event.op === 'connected');
      const clientId = connected.clientId as string;
      const key = connected.replaceKey as string;
      // Node B can't check the key: node A, which holds the connection, does.
      const wrongKey = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
      for (const wrong of [{}, { key: wrongKey }]) {
        const moved = await postJson(`${b.url}/unsubscribe`, { clientId, channel: 'r:one', ...wrong });
        assert.equal(moved.status, 404, JSON.stringify(moved.body));
        assert.equal((moved.body.error as { code: string }).code, 'not_found');
        const added = await postJson(`${b.url}/subscribe`, { clientId, channel: 'r:two', ...wrong });
        assert.equal(added.status, 404, JSON.stringify(added.body));
      }
      const fresh = await token({ sub: 'ada', channels: ['r:*'] }, 600);
      const refreshed = await postJson(`${b.url}/refresh`, { clientId, key, token: fresh });
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.equal(typeof refreshed.body.expiresAt, 'number');
      const other = await postJson(`${b.url}/refresh`, {
        clientId,
        key,
        token: await token({ sub: 'eve', channels: ['r:*'] }, 600),
      });
      assert.equal(other.status, 403);
      // The wrong keys changed nothing: r:one is still read, r:two not yet.
      await b.publish('r:two', 'not yet');
      await b.publish('r:one', 'still');
      const [kept] = await collect(client, (event) => event.op === 'message');
      assert.deepEqual([kept!.channel, kept!.data], ['r:one', 'still']);
      const added = await postJson(`${b.url}/subscribe`, { clientId, key, channel: 'r:two' });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      await b.publish('r:two', 'via b');
      const [message] = await collect(client, (event) => event.op === 'message');
      assert.deepEqual([message!.channel, message!.data], ['r:two', 'via b']);
      const dropped = await postJson(`${b.url}/unsubscribe`, { clientId, key, channel: 'r:two' });
      assert.equal(dropped.status, 200);
      const unknown = await postJson(`${b.url}/subscribe`, {
        clientId: 'AAAAAAAAAAAAAAAAAAAAAA',
        key,
        channel: 'r:two',
      });
      assert.equal(unknown.status, 404);
    } finally {
      client.close();
    }
  });
});
