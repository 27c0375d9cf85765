import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/**
 * Waits until the client receives live messages on its `channels` channels: the last
 * subscription reply on WebSocket, else the connected event (or the first poll's answer).
 */
async function subscribed(client: WireClient, kind: string, channels = 1): Promise<void> {
  await client.connected;
  const last = `sub-${channels - 1}`;
  await collect(client, (event) => (kind === 'websocket' ? event.id === last : event.op === 'connected'));
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

/** Names a connection to POST /refresh, /subscribe, /unsubscribe: its clientId and key. */
const own = (connected: WireEvent) => ({ clientId: connected.clientId, key: connected.replaceKey });

/** Refreshes a connection in place: the WebSocket op, else POST /refresh; the reply's body. */
async function refresh(
  server: RunningPushwire,
  client: WireClient,
  kind: string,
  connected: WireEvent,
  jwt: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  if (kind !== 'websocket') return postJson(`${server.url}/refresh`, { ...own(connected), token: jwt });
  client.send({ id: 'refresh', op: 'refresh', token: jwt });
  const events = await collect(client, (event) => event.id === 'refresh');
  const reply = events[events.length - 1]!;
  // Whatever came before the reply is put back for the test to see.
  for (const event of events.slice(0, -1)) client.events.push(event);
  return reply.op === 'reply'
    ? { status: 200, body: reply }
    : { status: reply.code === 'forbidden' ? 403 : 401, body: { error: reply } };
}

describe('token refresh', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
  });
  after(async () => {
    await server.stop();
  });

  for (const kind of WIRE_KINDS) {
    test(`${kind}: a token refreshed before exp keeps the connection, and every message arrives once, in order`, async () => {
      const channel = `t:refresh-${kind}`;
      const exp = inSeconds(3);
      let jwt = await token({ sub: 'ada', channels: ['t:*'] }, exp);
      const client = openWire(kind, server.url, { channels: [channel], token: () => jwt });
      try {
        const connected = await client.connected;
        await subscribed(client, kind);
        const later = inSeconds(120);
        const fresh = await token({ sub: 'ada', channels: ['t:*'] }, later);
        if (kind === 'longpoll') jwt = fresh;
        else {
          const reply = await refresh(server, client, kind, connected, fresh);
          assert.equal(reply.status, 200, JSON.stringify(reply.body));
          assert.equal(reply.body.expiresAt, later * 1000);
        }
        // Published until well past the first token's exp.
        const count = 50;
        for (let i = 0; i < count; i++) {
          await server.publish(channel, { i });
          await delay(100);
        }
        assert.ok(Date.now() > exp * 1000 + 500, 'the messages went on past the first exp');
        const events = await collect(
          client,
          (event) => event.op === 'message' && (event.data as { i: number }).i === count - 1,
        );
        const unexpected = events.filter((event) => !['message', 'reply'].includes(event.op));
        assert.deepEqual(unexpected, [], 'no end, no error, no second connected');
        const numbers = events
          .filter((event) => event.op === 'message')
          .map((event) => (event.data as { i: number }).i);
        assert.deepEqual(numbers, [...Array(count).keys()]);
      } finally {
        client.close();
      }
    });
  }

  for (const kind of ['websocket', 'sse', 'stream'] as const) {
    test(`${kind}: a refresh naming another sub is refused 403 and the old expiry stands`, async () => {
      const channel = `t:other-${kind}`;
      const exp = inSeconds(3);
      const jwt = await token({ sub: 'ada', channels: ['t:*'] }, exp);
      const client = openWire(kind, server.url, { channels: [channel], token: () => jwt });
      try {
        const connected = await client.connected;
        await subscribed(client, kind);
        const mallory = await token({ sub: 'mallory', channels: ['t:*'] }, inSeconds(120));
        const refused = await refresh(server, client, kind, connected, mallory);
        assert.equal(refused.status, 403);
        assert.equal((refused.body.error as { code: string }).code, 'forbidden');
        const forged = await token({ sub: 'ada', channels: ['t:*'] }, inSeconds(120), 'x'.repeat(40));
        const invalid = await refresh(server, client, kind, connected, forged);
        assert.equal(invalid.status, 401);
        const end = endOf(await collect(client));
        if (kind === 'websocket') assert.equal(end.code, 4502);
        else assert.equal(end.status, 200);
      } finally {
        client.close();
      }
    });
  }

  test('pushwire_token_refreshes_total counts refreshes taken and refused, on WebSocket and POST /refresh', async () => {
    const counts = async () => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const value = (result: string) => {
        const line = text
          .split('\n')
          .find((l) => l.startsWith(`pushwire_token_refreshes_total{result="${result}"} `));
        return line ? Number(line.split(' ')[1]) : 0;
      };
      return { ok: value('ok'), refused: value('refused') };
    };
    const before = await counts();
    for (const kind of ['websocket', 'sse'] as const) {
      const jwt = await token({ sub: 'ada', channels: ['t:*'] }, inSeconds(60));
      const client = openWire(kind, server.url, { channels: [`t:count-${kind}`], token: () => jwt });
      try {
        const connected = await client.connected;
        await subscribed(client, kind);
        const fresh = await token({ sub: 'ada', channels: ['t:*'] }, inSeconds(120));
        assert.equal((await refresh(server, client, kind, connected, fresh)).status, 200);
        const forged = await token({ sub: 'ada', channels: ['t:*'] }, inSeconds(120), 'x'.repeat(40));
        assert.equal((await refresh(server, client, kind, connected, forged)).status, 401);
      } finally {
        client.close();
      }
    }
    const after = await counts();
    assert.deepEqual(
      { ok: after.ok - before.ok, refused: after.refused - before.refused },
      { ok: 2, refused: 2 },
    );
  });

  test('POST /refresh for an unknown clientId is 404 not_found; a bad body is 400', async () => {
    const jwt = await token({ sub: 'ada', channels: ['t:*'] }, inSeconds(60));
    const unknown = await postJson(`${server.url}/refresh`, {
      clientId: 'AAAAAAAAAAAAAAAAAAAAAA',
      token: jwt,
    });
    assert.equal(unknown.status, 404);
    assert.equal((unknown.body.error as { code: string }).code, 'not_found');
    const bad = await postJson(`${server.url}/refresh`, { clientId: 'x' });
    assert.equal(bad.status, 400);
  });

  for (const kind of ['websocket', 'sse', 'stream'] as const) {
    test(`${kind}: a refreshed token that no longer grants a channel drops it with an error naming it`, async () => {
      const kept = `keep:${kind}`;
      const lost = `lose:${kind}`;
      const jwt = await token({ sub: 'ada', channels: ['keep:*', 'lose:*'] }, inSeconds(60));
      const client = openWire(kind, server.url, { channels: [kept, lost], token: () => jwt });
      try {
        const connected = await client.connected;
        await subscribed(client, kind, 2);
        const narrower = await token({ sub: 'ada', channels: ['keep:*'] }, inSeconds(60));
        const reply = await refresh(server, client, kind, connected, narrower);
        assert.equal(reply.status, 200);
        const [error] = await collect(client, (event) => event.op === 'error');
        assert.equal(error!.op, 'error');
        assert.equal(error!.code, 'forbidden');
        assert.equal(error!.channel, lost);
        await server.publish(lost, 'gone');
        await server.publish(kept, 'still here');
        const [message] = await collect(client, (event) => event.op === 'message');
        assert.equal(message!.channel, kept);
        assert.equal(message!.data, 'still here');
      } finally {
        client.close();
      }
    });
  }
});

describe('changing channels of an open SSE or stream connection', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
  });
  after(async () => {
    await server.stop();
  });

  for (const kind of ['sse', 'stream'] as const) {
    test(`${kind}: POST /subscribe adds a channel (its history after a cursor too) and /unsubscribe drops it, on the one connection`, async () => {
      const first = `c:${kind}-1`;
      const second = `c:${kind}-2`;
      await server.publish(second, 'before');
      const { offset, epoch } = await server.publish(second, 'replayed');
      const jwt = await token({ sub: 'ada', channels: ['c:*'] }, inSeconds(120));
      const client = openWire(kind, server.url, { channels: [first], token: () => jwt });
      try {
        const connected = await client.connected;
        await subscribed(client, kind);
        const id = own(connected);
        // A cursor right before the last message: that one is replayed on the connection.
        const cursor = `1~${second}~${epoch}~${offset - 1}`;
        const added = await postJson(`${server.url}/subscribe`, { ...id, channel: second, cursor });
        assert.equal(added.status, 200, JSON.stringify(added.body));
        assert.deepEqual(
          { channel: added.body.channel, epoch: added.body.epoch, offset: added.body.offset },
          { channel: second, epoch, offset: offset - 1 },
        );
        const [replayed] = await collect(client, (event) => event.op === 'message');
        assert.deepEqual([replayed!.channel, replayed!.data], [second, 'replayed']);
        await server.publish(second, 'live');
        await server.publish(first, 'still');
        const live = (
          await collect(client, (event) => event.op === 'message' && event.channel === first)
        ).filter((event) => event.op === 'message');
        assert.deepEqual(
          live.map((event) => event.data),
          ['live', 'still'],
        );
        // The cursor of the last message covers both channels now.
        assert.match(String(live[1]!.cursor), new RegExp(second.replace(/[-:]/g, '.')));

        const again = await postJson(`${server.url}/subscribe`, { ...id, channel: second });
        assert.equal(again.status, 400);
        assert.equal((again.body.error as { code: string }).code, 'already_subscribed');
        const denied = await postJson(`${server.url}/subscribe`, { ...id, channel: 'secret:x' });
        assert.equal(denied.status, 403);
        assert.equal((denied.body.error as { code: string }).code, 'forbidden');

        const dropped = await postJson(`${server.url}/unsubscribe`, { ...id, channel: second });
        assert.deepEqual(dropped, { status: 200, body: { channel: second } });
        await server.publish(second, 'not for us');
        await server.publish(first, 'last');
        const [last] = await collect(client, (event) => event.op === 'message');
        assert.deepEqual([last!.channel, last!.data], [first, 'last']);
        const unknown = await postJson(`${server.url}/subscribe`, {
          clientId: 'nope',
          key: id.key,
          channel: first,
        });
        assert.equal(unknown.status, 404);
      } finally {
        client.close();
      }
    });
  }
});

describe("another reader's clientId is not enough", () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
  });
  after(async () => {
    await server.stop();
  });

  for (const kind of ['sse', 'stream'] as const) {
    test(`${kind}: /subscribe, /unsubscribe and /refresh with a missing or wrong key are 404 like an unknown clientId, and change nothing`, async () => {
      const watched = `v:${kind}-watched`;
      const pushed = `v:${kind}-pushed`;
      const jwt = await token({ sub: 'ada', channels: ['v:*'] }, inSeconds(120));
      const victim = openWire(kind, server.url, { channels: [watched], token: () => jwt });
      // Another reader of the channel, to whom presence shows the victim's clientId; its own
      // key is a real key, of the wrong connection.
      const reader = openWire(kind, server.url, { channels: [watched], token: () => jwt });
      try {
        const connected = await victim.connected;
        await subscribed(victim, kind);
        const readerKey = (await reader.connected).replaceKey as string;
        const clientId = connected.clientId as string;
        const theirs = connected.replaceKey as string;
        const notFound = async (path: string, body: Record<string, unknown>) => {
          const answer = await postJson(`${server.url}${path}`, body);
          assert.equal(answer.status, 404, `${path} ${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
          assert.equal((answer.body.error as { code: string }).code, 'not_found');
          return answer.body;
        };
        const wrongKeys: Record<string, unknown>[] = [
          {},
          { key: '' },
          { key: readerKey },
          { key: `${theirs.slice(0, -1)}${theirs.endsWith('A') ? 'B' : 'A'}` },
          { key: theirs.slice(0, -1) },
          // Same length in characters, longer in bytes.
          { key: 'é'.repeat(theirs.length) },
          { key: 42 },
        ];
        const fresh = await token({ sub: 'ada', channels: ['v:*'] }, inSeconds(600));
        for (const wrong of wrongKeys) {
          await notFound('/unsubscribe', { clientId, channel: watched, ...wrong });
          await notFound('/subscribe', { clientId, channel: pushed, ...wrong });
          await notFound('/refresh', { clientId, token: fresh, ...wrong });
        }
        // Word for word what a clientId nobody has gets, but for the clientId it names.
        const unknownId = 'AAAAAAAAAAAAAAAAAAAAAA';
        const wrong = await notFound('/unsubscribe', { clientId, channel: watched, key: readerKey });
        const unknown = await notFound('/unsubscribe', {
          clientId: unknownId,
          channel: watched,
          key: theirs,
        });
        assert.equal(JSON.stringify(wrong).replace(clientId, unknownId), JSON.stringify(unknown));

        // The victim still reads its channel and was given no other.
        await server.publish(pushed, 'not for the victim');
        await server.publish(watched, 'still here');
        const events = await collect(victim, (event) => event.op === 'message');
        assert.deepEqual(
          events.map((event) => event.op),
          ['message'],
          'no error, no end, no reconnect: nothing happened to the victim',
        );
        assert.deepEqual([events[0]!.channel, events[0]!.data], [watched, 'still here']);
        const cursor = events[0]!.cursor as string;
        assert.ok(cursor.includes(watched) && !cursor.includes(pushed), cursor);
      } finally {
        victim.close();
        reader.close();
      }
    });
  }
});

describe('channel rights fail closed', () => {
  let server: RunningPushwire;
  before(async () => {
    const config = join(tmpdir(), `pushwire-public-${process.pid}.yaml`);
    writeFileSync(config, 'namespaces:\n  news:\n    public: true\n');
    server = await startPushwire({ args: ['--token-secret', SECRET, '--config', config] });
  });
  after(async () => {
    await server.stop();
  });

  const status = async (jwt: string, channel: string) => {
    const response = await fetch(`${server.url}/poll?channel=${channel}&token=${jwt}`);
    await response.body?.cancel();
    return response.status;
  };

  test('a token without a channels claim reads only public namespaces', async () => {
    const claimless = await token({ sub: 'ada' }, inSeconds(60));
    assert.equal(await status(claimless, 'chat:a'), 403);
    assert.equal(await status(claimless, 'news:today'), 200);
  });

  test('patterns match whole segments: chat:* is one, chat:** the rest, chat* no prefix', async () => {
    const one = await token({ sub: 'ada', channels: ['chat:*', 'room*'] }, inSeconds(60));
    assert.equal(await status(one, 'chat:a'), 200);
    assert.equal(await status(one, 'chat:a:b'), 403);
    assert.equal(await status(one, 'chatroom:x'), 403);
    assert.equal(await status(one, 'roomy'), 403);
    const rest = await token({ sub: 'ada', channels: ['chat:**'] }, inSeconds(60));
    assert.equal(await status(rest, 'chat:a:b'), 200);
  });
});
