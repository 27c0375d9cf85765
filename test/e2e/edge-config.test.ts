// The edge's start-up and time rules, on real `pushwire serve` processes: short secrets stop
// the start with one line, given keys never reach the output, `*` origins are warned about,
// the request timeout cuts slow requests but never a stream that has begun, and idle
// keep-alive connections are closed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openRawClient, TRANSPORTS } from '../helpers/clients.ts';
import { startPushwire } from '../helpers/server.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

async function serveFails(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  try {
    await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', ...args], {
      cwd: root,
      timeout: 60_000,
    });
  } catch (error) {
    const failure = error as { code: number; stderr: string; stdout: string };
    return failure;
  }
  throw new Error('serve started');
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in 30 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('secrets', { timeout: 240_000 }, () => {
  for (const [flag, value, rule] of [
    ['--token-secret', 'SECRET-1', /--token-secret: the secret is too short \(use at least 32 bytes/],
    ['--token-secret', 'thirty-one-bytes-SECRET-secret!', /at least 32 bytes/],
    ['--api-key', 'SECRET-key-15ch', /--api-key: the key is too short \(use at least 16 characters/],
    ['--admin-key', 'SECRET-key', /--admin-key: the key is too short \(use at least 16 characters/],
  ] as const) {
    test(`${flag} of ${value.length} characters stops the start with one line, without the value`, async () => {
      const { code, stderr, stdout } = await serveFails([flag, value]);
      assert.equal(code, 2);
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, stderr);
      assert.match(lines[0]!, rule);
      assert.ok(!`${stdout}${stderr}`.includes('SECRET'));
    });
  }

  test('keys given to serve never reach its output, even at debug and after refused requests', async () => {
    const apiKey = 'given-api-key-0123456789-SECRET';
    const adminKey = 'given-admin-key-0123456789-SECRET';
    const server = await startPushwire({
      args: ['--api-key', apiKey, '--admin-key', adminKey, '--log-level', 'debug', '--request-timeout', '1s'],
    });
    try {
      const publish = (key: string) =>
        fetch(`${server.url}/api/publish`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
          body: '{"channel":"a","data":1}',
        });
      assert.equal((await publish(apiKey)).status, 200);
      assert.equal((await publish(`${apiKey}x`)).status, 401);
      assert.equal((await publish(adminKey.slice(0, -1))).status, 401);
      // A body that stops half way, from a client that then hangs up.
      await new Promise<void>((resolve) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write(
            `POST /api/publish HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"chan`,
          );
          setImmediate(() => socket.destroy());
        });
        socket.on('close', () => resolve());
      });
      // One that never finishes: cut by the request timeout.
      const status = await new Promise<string>((resolve) => {
        const socket = connect(server.port, '127.0.0.1', () =>
          socket.write(
            `POST /api/publish HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{"chan`,
          ),
        );
        let answer = '';
        socket.on('data', (chunk) => {
          answer += chunk;
        });
        socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
      });
      assert.equal(status, 'HTTP/1.1 408 Request Timeout');
      await waitFor(() => /cut short by the client/.test(server.output().stderr));
    } finally {
      await server.stop();
    }
    const { stdout, stderr } = server.output();
    assert.match(stdout, /API key: as configured \(not shown\)/);
    for (const key of [apiKey, adminKey, 'SECRET']) assert.ok(!`${stdout}${stderr}`.includes(key), key);
    // Clients that hang up or run out of time are a debug line each, with no stack.
    assert.match(stderr, /"level":20,[^\n]*cut short by the client/);
    assert.doesNotMatch(stderr, /"stack"|"level":50/);
  });
});

describe('origins', { timeout: 120_000 }, () => {
  test('--cors-origins * is warned about on start', async () => {
    const server = await startPushwire({ args: ['--cors-origins', '*'] });
    try {
      await waitFor(() => /cors-origins is \*/.test(server.output().stderr));
      assert.match(server.output().stderr, /"level":40,[^\n]*cors-origins is \*: any web page/);
    } finally {
      await server.stop();
    }
  });

  test("by default no warning, and only the server's own origin passes", async () => {
    const server = await startPushwire();
    try {
      const own = await fetch(`${server.url}/healthz`, { headers: { Origin: server.url } });
      assert.equal(own.status, 200);
      const other = await fetch(`${server.url}/healthz`, { headers: { Origin: 'http://localhost:1' } });
      assert.equal(other.status, 403);
      assert.equal(other.headers.get('access-control-allow-origin'), null);
    } finally {
      await server.stop();
    }
    assert.doesNotMatch(server.output().stderr, /cors-origins is \*/);
  });

  test('JSON answers carry no Vary (never stored); files that may be cached keep Vary: Origin', async () => {
    const app = 'http://app.test';
    const server = await startPushwire({ args: ['--cors-origins', app] });
    try {
      for (const origin of [null, app]) {
        const init = origin ? { headers: { Origin: origin } } : {};
        const poll = await fetch(`${server.url}/poll?channel=heads`, init);
        assert.equal(poll.status, 200);
        assert.equal(poll.headers.get('content-type'), 'application/json');
        assert.equal(poll.headers.get('cache-control'), 'no-store');
        assert.equal(poll.headers.get('vary'), null);
        assert.equal(poll.headers.get('access-control-allow-origin'), origin);
        const refused = await fetch(`${server.url}/poll`, init);
        assert.equal(refused.status, 400);
        assert.equal(refused.headers.get('vary'), null);
        assert.equal(refused.headers.get('access-control-allow-origin'), origin);
      }
      const script = await fetch(`${server.url}/pushwire.js`, { headers: { Origin: app } });
      assert.equal(script.status, 200);
      assert.equal(script.headers.get('vary'), 'Origin, Accept-Encoding');
      assert.equal(script.headers.get('access-control-allow-origin'), app);
      await script.arrayBuffer();
    } finally {
      await server.stop();
    }
  });
});

describe('time limits', { timeout: 240_000 }, () => {
  test('streams that began outlive the request timeout on every transport', async () => {
    const server = await startPushwire({
      args: ['--request-timeout', '500ms', '--heartbeat-interval', '300ms', '--poll-timeout', '10s'],
    });
    try {
      for (const kind of TRANSPORTS) {
        const client = openRawClient(kind, server.url, { channels: [`t-${kind}`] });
        await client.ready;
        // Well past the request timeout: a stream that began is not a request still arriving.
        await new Promise((resolve) => setTimeout(resolve, 2000));
        await server.publish(`t-${kind}`, { kind });
        const message = await client.events.nextMatching((event) => event.type === 'message', 30_000);
        assert.deepEqual(message.type === 'message' && message.data, { kind });
        assert.ok(!client.events.takeQueued().some((event) => event.type === 'closed'), kind);
        client.close();
      }
    } finally {
      await server.stop();
    }
  });

  test('an idle keep-alive connection is closed after --keep-alive-timeout', async () => {
    const server = await startPushwire({ args: ['--keep-alive-timeout', '300ms'] });
    try {
      const closedAfterAnswer = await new Promise<boolean>((resolve) => {
        const socket = connect(server.port, '127.0.0.1', () =>
          socket.write('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n'),
        );
        let answered = false;
        socket.on('data', () => {
          answered = true;
        });
        socket.on('close', () => resolve(answered));
      });
      assert.ok(closedAfterAnswer);
    } finally {
      await server.stop();
    }
  });
});

describe('trusted proxies', { timeout: 120_000 }, () => {
  test('the per-address publish rate counts the forwarded client, believed only from the proxy', async () => {
    const server = await startPushwire({
      args: ['--trust-proxy', '127.0.0.66', '--client-publish', '--client-publish-rate-per-ip', '1'],
    });
    const publish = (from: string, forwardedFor: string) =>
      new Promise<number>((resolve, reject) => {
        const body = '{"channel":"p","data":1}';
        const req = request(
          `${server.url}/publish`,
          {
            method: 'POST',
            localAddress: from,
            agent: false,
            headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': forwardedFor },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      // Past the burst (two), the same forwarded client is refused; a bounded number of tries,
      // so that a slow machine refilling the bucket between requests can't make this pass or fail.
      const untilRefused = async (from: string, forwardedFor: (i: number) => string) => {
        for (let i = 0; i < 20; i++) if ((await publish(from, forwardedFor(i))) === 429) return true;
        return false;
      };
      assert.ok(await untilRefused('127.0.0.66', () => '198.51.100.1'));
      // Another client behind the same proxy has a bucket of its own.
      assert.equal(await publish('127.0.0.66', '198.51.100.2'), 200);
      // From anyone else the header is the client's own word: the peer is the address.
      assert.ok(await untilRefused('127.0.0.67', (i) => `198.51.100.${10 + i}`));
    } finally {
      await server.stop();
    }
  });
});
