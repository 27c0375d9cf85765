import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { collect, openWire, WIRE_KINDS, type WireClient, type WireEvent } from '../helpers/token-clients.ts';

const SECRET = 'a-token-test-secret-that-is-long-enough-for-hs256';

/** An HS256 token; `exp` in seconds since the epoch. */
function token(claims: Record<string, unknown>, exp: number, secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret));
}

const inSeconds = (seconds: number) => Math.floor(Date.now() / 1000) + seconds;

/** Waits until the client receives live messages: its subscription reply, or its first answer. */
async function subscribed(client: WireClient, kind: string): Promise<void> {
  await client.connected;
  if (kind === 'websocket') await collect(client, (event) => event.id === 'sub-0');
}

/**
 * Publishes `{i, sentAt}` every 100 ms until `stop` says so (at most `max` times): a message
 * whose sentAt is past a moment reached the server after it.
 */
function keepPublishing(server: RunningPushwire, channel: string, stop: () => boolean, max = 200) {
  return (async () => {
    for (let i = 0; i < max && !stop(); i++) {
      await server.publish(channel, { i, sentAt: Date.now() });
      await delay(100);
    }
  })();
}

function endOf(events: readonly WireEvent[]): WireEvent {
  const last = events[events.length - 1]!;
  assert.equal(last.op, 'end', JSON.stringify(events.slice(-3)));
  return last;
}

describe('token expiry', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
  });
  after(async () => {
    await server.stop();
  });

  for (const kind of WIRE_KINDS) {
    test(`${kind}: at exp the connection ends with token_expired, and nothing published after exp arrives`, async () => {
      const channel = `t:expiry-${kind}`;
      const exp = inSeconds(3);
      const jwt = await token({ sub: 'ada', channels: ['t:*'] }, exp);
      const client = openWire(kind, server.url, { channels: [channel], token: () => jwt });
      try {
        const connected = await client.connected;
        if (kind !== 'longpoll') assert.equal(connected.expiresAt, exp * 1000);
        await subscribed(client, kind);
        let done = false;
        const publishing = keepPublishing(server, channel, () => done);
        const events = await collect(client);
        done = true;
        await publishing;
        const end = endOf(events);
        const errors = events.filter((event) => event.op === 'error');
        if (kind === 'websocket') {
          assert.equal(end.code, 4502);
          assert.equal(end.reason, 'token_expired');
        } else if (kind === 'longpoll') {
          assert.equal(end.status, 401);
          assert.equal((end.error as { code: string }).code, 'token_expired');
        } else {
          assert.equal(errors.length, 1, JSON.stringify(events));
          assert.equal(errors[0]!.code, 'token_expired');
          assert.equal(typeof errors[0]!.message, 'string');
        }
        const messages = events.filter((event) => event.op === 'message');
        assert.ok(messages.length > 0, 'messages published before exp arrive');
        for (const message of messages) {
          const { sentAt } = message.data as { sentAt: number };
          assert.ok(sentAt < exp * 1000, `published ${sentAt - exp * 1000} ms after exp, yet delivered`);
        }
      } finally {
        client.close();
      }
    });
  }

  test('connected carries expiresAt null without a token', async () => {
    const anonymous = await startPushwire();
    try {
      const client = openWire('stream', anonymous.url, { channels: ['a'], token: () => '' });
      assert.equal((await client.connected).expiresAt, null);
      client.close();
    } finally {
      await anonymous.stop();
    }
  });

  test('a poll or a connection with an expired token is refused 401 token_expired', async () => {
    const jwt = await token({ sub: 'ada', channels: ['t:*'] }, inSeconds(-60));
    for (const path of ['poll', 'sse', 'stream']) {
      const response = await fetch(`${server.url}/${path}?channel=t:x&cursor=1&token=${jwt}`);
      assert.equal(response.status, 401);
      const { error } = (await response.json()) as { error: { code: string } };
      assert.equal(error.code, 'token_expired');
    }
  });
});
