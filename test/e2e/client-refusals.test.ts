import assert from 'node:assert/strict';
import { once } from 'node:events';
import { get, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { Pushwire, ServerError, type TransportName } from '../../src/client/node.ts';
import { TRANSPORT_NAMES } from '../../src/protocol/index.ts';
import { type ObservedClient, observe } from '../helpers/client-sdk.ts';
import { type RequestCounter, startRequestCounter } from '../helpers/request-counter.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const SECRET = 'a-test-secret-that-is-long-enough-for-hs256';
const APP_ORIGIN = 'http://app.example';
/** Long enough for a client in a retry loop to show it: its first retry comes within 250 ms. */
const WATCH_MS = 2000;

function token(claims: Record<string, unknown>, secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(secret));
}

const PATHS: Record<TransportName, string> = {
  websocket: '/ws',
  sse: '/sse',
  longpoll: '/poll',
  stream: '/stream',
};

interface Refusal {
  name: string;
  token: () => Promise<string | undefined>;
  channel: string;
  code: string;
}

const REFUSALS: Refusal[] = [
  { name: 'no token', token: async () => undefined, channel: 'news', code: 'unauthorized' },
  {
    name: 'a bad token',
    token: () => token({ sub: 'mallory' }, 'another-secret-another-secret-another'),
    channel: 'news',
    code: 'unauthorized',
  },
  {
    name: 'a forbidden channel',
    token: () => token({ sub: 'ada', channels: ['room:*'] }),
    channel: 'secret',
    code: 'forbidden',
  },
];

/**
 * Connection attempts the server saw: requests of the transport's path, but on SSE only
 * EventSource's (not the one probe that asks why it failed), and on long poll only the first
 * poll of each connection, the one without a cursor.
 */
function attempts(counter: RequestCounter, transport: TransportName): number {
  const path = PATHS[transport];
  return counter.requests.filter(
    (r) =>
      r.path === path &&
      (transport !== 'sse' || r.accept.includes('text/event-stream')) &&
      (transport !== 'longpoll' || !r.query.has('cursor')),
  ).length;
}

/**
 * The `error` event, which must come on the first attempt: before any `reconnecting`. (It comes
 * within tens of milliseconds on an idle machine; the timeout only bounds a hung test, since
 * these tests share two cores with other suites.)
 */
async function firstRefusal(observed: ObservedClient): Promise<ServerError> {
  const event = await observed.events.nextMatching(
    (e) => e.type === 'error' || e.type === 'reconnecting',
    10_000,
    'an error event',
  );
  assert.equal(event.type, 'error', 'the client said it reconnects before it said why it was refused');
  return event.payload as ServerError;
}

function reconnects(observed: ObservedClient): number {
  return observed.events.takeQueued().filter((event) => event.type === 'reconnecting').length;
}

describe('every refusal reaches the application; none is retried in a loop', { concurrency: true }, () => {
  let server: RunningPushwire;
  let valid: string;
  before(async () => {
    server = await startPushwire({ args: ['--token-secret', SECRET] });
    valid = await token({ sub: 'ada', channels: ['room:*', 'news:*', 'secret:*'] });
    // A fresh server process answers its first requests slowly (modules load on first use):
    // what is timed below is the client, so every kind of refusal is made once beforehand.
    const warm = await token({ sub: 'warm', channels: ['room:*'] });
    for (const path of ['/sse', '/poll', '/stream']) {
      for (const query of ['channel=news:x', `channel=secret:x&token=${warm}`]) {
        await (await fetch(`${server.url}${path}?${query}`)).arrayBuffer();
      }
    }
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    await new Promise((resolve) => ws.on('close', resolve).on('error', () => {}));
  });
  after(async () => {
    await server.stop();
  });

  for (const transport of TRANSPORT_NAMES) {
    for (const [i, refusal] of REFUSALS.entries()) {
      test(`${transport}, ${refusal.name}: error ${refusal.code} at once, no retries, setToken connects`, async () => {
        const counter = await startRequestCounter(server.port);
        const channel = `${refusal.channel}:${transport}-${i}`;
        const client = new Pushwire(counter.url, { transports: [transport], token: await refusal.token() });
        const observed = observe(client, [channel]);
        try {
          const error = await firstRefusal(observed);
          assert.ok(error instanceof ServerError);
          assert.equal(error.code, refusal.code);
          assert.ok(error.message.length > 0 && error.message !== error.code, error.message);
          // A WebSocket refuses just the channel and stays open; the others refuse the connection.
          const channelOnly = transport === 'websocket' && refusal.code === 'forbidden';
          if (channelOnly) assert.equal(error.channel, channel);
          await delay(WATCH_MS);
          assert.equal(attempts(counter, transport), 1);
          assert.ok(
            counter.count(PATHS[transport]) <= 2,
            'one attempt: SSE adds its probe, long poll one poll',
          );
          assert.equal(reconnects(observed), 0);
          assert.equal(client.state, channelOnly ? 'connected' : 'refused');

          client.setToken(valid);
          await observed.events.nextMatching(
            (e) => e.type === 'subscribed' && e.payload.channel === channel,
            10_000,
            `the subscribed event of ${channel}`,
          );
          assert.equal(client.state, 'connected');
          const sent = await server.publish(channel, 'let in');
          const got = await observed.messages.next();
          assert.deepEqual([got.channel, got.offset, got.data], [channel, sent.offset, 'let in']);
        } finally {
          client.close();
          await counter.close();
        }
      });
    }
  }

  test('default transports, no token: one refusal, no fallback to other transports', async () => {
    const counter = await startRequestCounter(server.port);
    const client = new Pushwire(counter.url);
    const observed = observe(client, ['news:default']);
    try {
      assert.equal((await firstRefusal(observed)).code, 'unauthorized');
      await delay(WATCH_MS);
      assert.deepEqual(
        counter.requests.map((r) => r.path),
        ['/ws'],
      );
      assert.equal(client.state, 'refused');
    } finally {
      client.close();
      await counter.close();
    }
  });
});

describe('a full server is waited for as it asks, not retried by the backoff', { concurrency: true }, () => {
  let server: RunningPushwire;
  let held: Socket;
  before(async () => {
    server = await startPushwire({ args: ['--max-connections-per-ip', '1', '--cors-origins', APP_ORIGIN] });
    // The one connection this address may hold: every client connection after it is refused.
    held = connect(server.port, '127.0.0.1');
    await once(held, 'connect');
  });
  after(async () => {
    held.destroy();
    await server.stop();
  });

  test('a page of an allowed origin can read the refusal and its Retry-After; others learn nothing', async () => {
    const refused = (origin: string) =>
      new Promise<IncomingMessage>((resolve, reject) => {
        get(`${server.url}/poll?channel=news`, { headers: { Origin: origin }, agent: false }, (res) => {
          res.resume();
          resolve(res);
        }).on('error', reject);
      });
    const app = await refused(APP_ORIGIN);
    assert.equal(app.statusCode, 503);
    assert.equal(app.headers['access-control-allow-origin'], APP_ORIGIN);
    assert.equal(app.headers['retry-after'], '5');
    // Without this a browser hides Retry-After from the page's script.
    assert.equal(app.headers['access-control-expose-headers'], 'Retry-After');
    const other = await refused('http://elsewhere.example');
    assert.equal(other.statusCode, 503);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.headers['access-control-expose-headers'], undefined);
  });

  for (const transport of TRANSPORT_NAMES) {
    test(`${transport}: too_many_connections, then the next attempt 5-7.5 s later (Retry-After: 5)`, async () => {
      const client = new Pushwire(server.url, { transports: [transport] });
      const observed = observe(client, [`news:full-${transport}`]);
      try {
        assert.equal((await firstRefusal(observed)).code, 'too_many_connections');
        const next = await observed.next('reconnecting');
        // The backoff alone would have retried within 250 ms.
        assert.ok(next.delayMs >= 5000 && next.delayMs <= 7500, `the next attempt in ${next.delayMs} ms`);
        assert.equal(next.attempt, 1);
      } finally {
        client.close();
      }
    });
  }
});
