import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openRawClient } from '../helpers/clients.ts';
import { type PrivateRedis, startPrivateRedis, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** In every Redis URL of these tests: it must never be printed. */
const PASSWORD = 's3cret-never-printed';
const redisUrl = (port: number) => `redis://default:${PASSWORD}@127.0.0.1:${port}`;

interface LogLine {
  level: number;
  msg: string;
  err?: unknown;
}

/** The JSON log lines (stderr is a pipe: JSON lines) about Redis. */
function redisLines(stderr: string): LogLine[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine)
    .filter((line) => /redis/i.test(line.msg))
    .map(({ level, msg, err }) => (err === undefined ? { level, msg } : { level, msg, err }));
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `pushwire serve` with the Redis broker, followed from before it listens. */
function serveWithRedis(port: number) {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'serve',
      ...['--port', '0', '--host', '127.0.0.1', '--no-demo', '--log-level', 'info'],
      ...['--broker', 'redis', '--redis-url', redisUrl(port), '--redis-prefix', uniquePrefix()],
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = { stdout: '', stderr: '' };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output.stderr += chunk;
  });
  // A bound on every run: a server that never ends fails its test instead of hanging the run.
  const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(limit);
      resolve(code);
    }),
  );
  return { child, output, exited };
}

describe('redis: an outage is one line when it starts and one when it ends', () => {
  const redises: PrivateRedis[] = [];
  const servers: RunningPushwire[] = [];
  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await Promise.all(redises.map((redis) => redis.stop()));
  });

  /** A port of our own where Redis can be started later; nothing listens there yet. */
  async function stoppedRedis(): Promise<PrivateRedis> {
    const redis = await startPrivateRedis();
    redises.push(redis);
    await redis.stop();
    return redis;
  }

  test('unreachable at start: one line, then a recovery line when Redis comes up in time', async () => {
    const redis = await stoppedRedis();
    const serve = serveWithRedis(redis.port);
    try {
      await until(() => redisLines(serve.output.stderr).length > 0, 'the first line');
      // ioredis has retried at 0.1, 0.3, 0.7 and 1.5 s by now: one line for all of them.
      await sleep(2000);
      const lines = redisLines(serve.output.stderr);
      assert.deepEqual(lines, [
        { level: 40, msg: `redis at 127.0.0.1:${redis.port} unreachable (ECONNREFUSED); retrying` },
      ]);
      // Up before the 5 s connect timeout: the server starts.
      await redis.restart();
      await until(() => /Pushwire listening on/.test(serve.output.stdout), 'the banner');
      const [, recovered, ...more] = redisLines(serve.output.stderr);
      assert.equal(recovered?.level, 30);
      assert.match(
        recovered!.msg,
        new RegExp(`^redis at 127\\.0\\.0\\.1:${redis.port} reachable again after \\d+\\.\\d s$`),
      );
      assert.deepEqual(more, []);
      assert.match(
        serve.output.stdout,
        /Broker {9}redis redis:\/\/default:\*\*\*@127\.0\.0\.1:\d+, key prefix/,
      );
      assert.doesNotMatch(serve.output.stdout + serve.output.stderr, new RegExp(PASSWORD));
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
  });

  test('never reachable: serve exits 1 after the connect timeout, saying where and why', async () => {
    const redis = await stoppedRedis();
    const serve = serveWithRedis(redis.port);
    assert.equal(await serve.exited, 1);
    const lines = serve.output.stderr.trim().split('\n');
    assert.deepEqual(
      lines.slice(0, -1).map((line) => JSON.parse(line).msg),
      [`redis at 127.0.0.1:${redis.port} unreachable (ECONNREFUSED); retrying`],
      'about ten failed attempts, one line',
    );
    assert.equal(
      lines.at(-1),
      `pushwire serve: redis connect failed: redis at redis://default:***@127.0.0.1:${redis.port} not ready within 5000 ms (ECONNREFUSED): start Redis, or check --redis-url`,
    );
    assert.doesNotMatch(serve.output.stderr, new RegExp(PASSWORD));
  });

  test('lost while running: one line, none per retry or failed publish, one when back', async () => {
    const redis = await startPrivateRedis();
    redises.push(redis);
    const server = await startPushwire({
      args: [
        '--broker',
        'redis',
        '--redis-url',
        redisUrl(redis.port),
        '--redis-prefix',
        uniquePrefix(),
        '--log-level',
        'info',
      ],
    });
    servers.push(server);
    const client = openRawClient('sse', server.url, { channels: ['outage'] });
    await client.ready;
    const before = server.output().stderr.length;
    const since = () => redisLines(server.output().stderr.slice(before));
    await redis.stop();
    await until(() => since().length > 0, 'the outage line');
    // Three seconds of reconnect attempts and refused publishes.
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`${server.url}/api/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${server.apiKey}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel: 'outage', data: i }),
      });
      assert.equal(response.status, 503);
      await sleep(500);
    }
    const [down, ...rest] = since();
    assert.deepEqual(rest, []);
    assert.equal(down!.level, 40);
    assert.equal(down!.err, undefined, 'no stack for a network error');
    assert.match(
      down!.msg,
      new RegExp(
        `^redis at 127\\.0\\.0\\.1:${redis.port} unreachable \\((connection lost|ECONNRESET|ECONNREFUSED)\\); retrying$`,
      ),
    );
    await redis.restart();
    await until(() => since().length === 2, 'the recovery line');
    assert.equal(since()[1]!.level, 30);
    assert.match(
      since()[1]!.msg,
      new RegExp(
        `^redis at 127\\.0\\.0\\.1:${redis.port} reachable again after \\d+\\.\\d s; \\d+ channels? subscribed again$`,
      ),
    );
    client.close();
    assert.doesNotMatch(server.output().stderr + server.output().stdout, new RegExp(PASSWORD));
  });
});
