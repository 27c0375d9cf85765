import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import type { Message, TransportName } from '../../src/client/index.ts';
import { nodeClient, type ObservedClient } from '../helpers/client-sdk.ts';
import { type RequestCounter, startRequestCounter } from '../helpers/request-counter.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SECRET = 'a-client-token-test-secret-long-enough-for-hs256';
/** Short enough that a run sees several refreshes, and the server ends a connection that missed one. */
const TOKEN_SECONDS = 5;
/** How long messages are published: well past several token lifetimes. */
const RUN_MS = 15_000;

/** What the application's token endpoint would do: an HS256 token for `sub`, valid a few seconds. */
function mint(channels: readonly string[], sub = 'user-1', seconds = TOKEN_SECONDS): Promise<string> {
  return new SignJWT({ sub, channels })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + seconds)
    .sign(new TextEncoder().encode(SECRET));
}

/** A getToken that counts its calls. */
function tokenSource(channels: readonly string[]) {
  const source = {
    calls: 0,
    getToken: () => {
      source.calls++;
      return mint(channels);
    },
  };
  return source;
}

/** The path a transport holds its one connection on. */
const CONNECTION_PATH: Record<TransportName, string> = {
  websocket: '/ws',
  sse: '/sse',
  stream: '/stream',
  longpoll: '/poll',
};

/** Publishes on `channel` every 100 ms for `RUN_MS` (bounded in count too); resolves with how many. */
async function publishFor(server: RunningPushwire, channel: string): Promise<number> {
  const until = Date.now() + RUN_MS;
  let sent = 0;
  while (Date.now() < until && sent < 300) {
    await server.publish(channel, { n: ++sent });
    await delay(100);
  }
  return sent;
}

/** The next `count` messages, asserting they are 1..count once each, in order. */
async function receiveInOrder(observed: ObservedClient, count: number): Promise<Message[]> {
  const got = await observed.messages.take(count, 60_000);
  assert.deepEqual(
    got.map((message) => (message.data as { n: number }).n),
    Array.from({ length: count }, (_, i) => i + 1),
  );
  return got;
}

/** Events other than subscribed/connected that a steady connection never shows. */
function interruptions(observed: ObservedClient): string[] {
  return observed.events
    .takeQueued()
    .filter((event) => event.type !== 'subscribed' && event.type !== 'connected')
    .map((event) => `${event.type}: ${JSON.stringify(event.payload)}`);
}

describe('SDK getToken: short tokens refreshed in place', () => {
  let server: RunningPushwire;
  before(async () => {
    // A little clock skew lets a refresh on a loaded machine land late without failing the
    // run; a client that didn't refresh still loses its connection well within it.
    server = await startPushwire({ args: ['--token-secret', SECRET, '--token-clock-skew', '3s'] });
  });
  after(async () => {
    await server?.stop();
  });
  /** A request counter of the test's own in front of the server: tests run side by side. */
  const counted = async (t: { after(fn: () => Promise<void>): void }): Promise<RequestCounter> => {
    const counter = await startRequestCounter(server.port);
    t.after(() => counter.close());
    return counter;
  };

  for (const transport of ['websocket', 'sse', 'stream', 'longpoll'] as const) {
    test(`${transport}: ${RUN_MS / 1000} s of messages with ${TOKEN_SECONDS} s tokens arrive once each, in order, on one connection`, async (t) => {
      const counter = await counted(t);
      const channel = `tokens-${transport}`;
      const source = tokenSource([channel]);
      const observed = nodeClient(counter.url, [channel], {
        transports: [transport],
        getToken: source.getToken,
      });
      try {
        const connected = await observed.next('connected', 20_000);
        assert.equal(connected.transport, transport);
        await observed.next('subscribed', 20_000);
        const sent = await publishFor(server, channel);
        await receiveInOrder(observed, sent).catch((error: Error) => {
          const seen = observed.events.takeQueued().map((event) => event.type);
          const paths = counter.requests.map((request) => request.path);
          throw new Error(`${error.message}; events ${seen}; requests ${paths}`);
        });
        assert.deepEqual(interruptions(observed), []);
        assert.equal(observed.client.state, 'connected');
        // The first token and at least one refresh per token lifetime that passed.
        assert.ok(
          source.calls >= 1 + Math.floor(RUN_MS / 1000 / TOKEN_SECONDS),
          `getToken calls: ${source.calls}`,
        );
        if (transport !== 'longpoll') {
          assert.equal(counter.count(CONNECTION_PATH[transport]), 1, 'one connection for the whole run');
        }
        if (transport === 'sse' || transport === 'stream') {
          assert.ok(counter.count('/refresh') >= 2, 'refreshed by POST /refresh');
        }
      } finally {
        observed.client.close();
      }
    });
  }

  for (const transport of ['sse', 'stream'] as const) {
    test(`${transport}: a second and third channel join the open connection, and one leaves it`, async (t) => {
      const counter = await counted(t);
      const channels = ['a', 'b', 'c'].map((name) => `inplace-${transport}-${name}`);
      const source = tokenSource(channels);
      const observed = nodeClient(counter.url, [channels[0]!], {
        transports: [transport],
        getToken: source.getToken,
      });
      const { client } = observed;
      try {
        await observed.next('subscribed', 20_000);
        const offs = channels.slice(1).map((channel) => client.subscribe(channel, observed.messages.push));
        for (const _ of offs) {
          const { channel: confirmed } = await observed.next('subscribed', 20_000);
          assert.ok(channels.includes(confirmed), confirmed);
        }
        for (const channel of channels) await server.publish(channel, channel);
        const firsts = await observed.messages.take(3, 20_000);
        assert.deepEqual(
          firsts.map((message) => message.data),
          channels,
        );
        // Dropping a channel is a request of its own (the SDK filters what it no longer wants
        // anyway, so the request is what shows the server was told); the connection goes on.
        offs[0]!();
        await waitFor(() => counter.count('/unsubscribe') === 1);
        await server.publish(channels[0]!, 'still here');
        assert.equal((await observed.messages.next(20_000)).data, 'still here');
        assert.equal(counter.count(CONNECTION_PATH[transport]), 1, 'no new connection');
        assert.equal(counter.count('/subscribe'), 2);
        assert.deepEqual(interruptions(observed), []);
      } finally {
        client.close();
      }
    });
  }

  test('a getToken that fails: an error, no connection, and a connection once it works', async () => {
    const channel = 'tokens-failing';
    let fail = true;
    let calls = 0;
    const observed = nodeClient(server.url, [channel], {
      transports: ['websocket'],
      baseDelayMs: 50,
      getToken: async () => {
        calls++;
        if (fail) throw new Error('the token endpoint is down');
        return mint([channel]);
      },
    });
    try {
      const error = await observed.next('error');
      assert.equal(error.code, 'token_unavailable');
      assert.match(error.message, /the token endpoint is down/);
      await observed.next('error');
      assert.ok(calls >= 2, 'retried');
      fail = false;
      assert.equal((await observed.next('connected', 20_000)).transport, 'websocket');
      await observed.next('subscribed');
      const sent = await server.publish(channel, 'hello');
      assert.equal((await observed.messages.next()).offset, sent.offset);
    } finally {
      observed.client.close();
    }
  });

  for (const transport of ['websocket', 'sse'] as const) {
    test(`pushwire subscribe --token-command over ${transport}: refreshed before expiry on one connection, every message once`, async (t) => {
      const counter = await counted(t);
      const channel = `cli-tokens-${transport}`;
      const dir = await mkdtemp(join(tmpdir(), 'pushwire-mint-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const log = join(dir, 'minted.log');
      const args = ['subscribe', channel, '--url', counter.url, '--transport', transport];
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          PUSHWIRE_TOKEN_COMMAND: `"${process.execPath}" test/fixtures/mint-token.mjs`,
          MINT_SECRET: SECRET,
          MINT_CHANNELS: channel,
          MINT_LOG: log,
        },
      });
      // A bound on the run: a subscriber that never ends fails instead of hanging.
      const limit = setTimeout(() => child.kill('SIGKILL'), 90_000);
      t.after(() => {
        clearTimeout(limit);
        child.kill('SIGKILL');
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await waitFor(() => /# connected to /.test(stderr), 60_000).catch(() => assert.fail(stderr));
      const sent = await publishFor(server, channel);
      await waitFor(() => stdout.split('\n').length > sent, 60_000).catch(() => assert.fail(stderr));
      child.kill('SIGINT');
      assert.equal(await exited, 0, stderr);
      const numbers = stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { data: { n: number } }).data.n);
      assert.deepEqual(
        numbers,
        Array.from({ length: sent }, (_, i) => i + 1),
      );
      assert.equal(stderr.match(/# connected to /g)?.length, 1, stderr);
      assert.doesNotMatch(stderr, /disconnected|reconnecting|error/, stderr);
      assert.equal(counter.count(CONNECTION_PATH[transport]), 1, 'one connection');
      const runs = (await readFile(log, 'utf8')).trim().split('\n').length;
      assert.ok(runs >= 1 + Math.floor(RUN_MS / 1000 / TOKEN_SECONDS), `token command runs: ${runs}`);
    });
  }

  for (const transport of ['websocket', 'sse', 'stream'] as const) {
    test(`${transport}: a token that no longer grants a channel drops just that one, in place`, async () => {
      const [keep, drop] = [`rights-${transport}-keep`, `rights-${transport}-drop`];
      const observed = nodeClient(server.url, [keep, drop], {
        transports: [transport],
        token: await mint([keep, drop], 'user-1', 60),
      });
      try {
        for (let i = 0; i < 2; i++) await observed.next('subscribed', 20_000);
        observed.client.setToken(await mint([keep], 'user-1', 60));
        const error = await observed.next('error', 20_000);
        assert.deepEqual([error.code, error.channel], ['forbidden', drop]);
        await server.publish(keep, 'still');
        assert.equal((await observed.messages.next(20_000)).data, 'still');
        assert.deepEqual(interruptions(observed), []);
        assert.equal(observed.client.state, 'connected');
      } finally {
        observed.client.close();
      }
    });
  }

  test("a refreshed token for another user is refused: the error says the server's code", async () => {
    const channel = 'tokens-other-user';
    let sub = 'user-1';
    const observed = nodeClient(server.url, [channel], {
      transports: ['websocket'],
      getToken: () => mint([channel], sub),
    });
    try {
      await observed.next('subscribed', 20_000);
      sub = 'user-2';
      const error = await observed.next('error', 20_000);
      assert.equal(error.code, 'forbidden');
    } finally {
      observed.client.close();
    }
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await delay(20);
  }
}
