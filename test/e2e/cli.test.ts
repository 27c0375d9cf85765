import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openRawClient } from '../helpers/clients.ts';
import { startPushwire } from '../helpers/server.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 20_000,
  });

type Failure = Error & { code?: number; stdout?: string; stderr?: string };

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Runs the CLI to its end; resolves with its exit code and output, whatever the code. */
async function cliResult(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await cli(args, env);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as Failure;
    if (typeof failure.code !== 'number') throw error;
    return { code: failure.code, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

/** Starts `pushwire subscribe` and collects what it says; `exited` resolves with its exit code. */
function spawnSubscribe(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'subscribe', ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  // A bound on every run: a subscribe that never ends fails its test instead of hanging the run.
  const limit = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(limit);
      resolve(code);
    }),
  );
  return {
    child,
    exited,
    stderr: () => stderr,
    /** Resolves once stderr matches `pattern`; rejects after `timeoutMs`. */
    async says(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(stderr)) {
        if (Date.now() > deadline) assert.fail(`subscribe never said ${pattern}:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

/** The heartbeat interval a server announces to its clients: observable proof of its config. */
async function announcedHeartbeat(args: string[], env: Record<string, string> = {}): Promise<number | null> {
  const server = await startPushwire({ args, env });
  try {
    const client = openRawClient('stream', server.url, { channels: ['config'] });
    const event = await client.events.next(10_000, 'connected');
    client.close();
    assert.equal(event.type, 'connected');
    return event.type === 'connected' ? event.heartbeatIntervalMs : null;
  } finally {
    await server.stop();
  }
}

describe('configuration', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pushwire-cli-'));
    writeFileSync(join(dir, 'pushwire.yaml'), 'heartbeatInterval: 5s\npollTimeout: 20s\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('flags win over env, env over the file, the file over defaults', async () => {
    const file = ['--config', join(dir, 'pushwire.yaml')];
    const env = { PUSHWIRE_HEARTBEAT_INTERVAL: '7s' };
    const announced = await Promise.all([
      announcedHeartbeat([...file, '--heartbeat-interval', '9s'], env),
      announcedHeartbeat(file, env),
      announcedHeartbeat(file),
      announcedHeartbeat([]),
      announcedHeartbeat(['--heartbeat-interval', 'off']),
    ]);
    assert.deepEqual(announced, [9000, 7000, 5000, 15_000, null]);
  });

  test('a bad value stops start-up with one clear line naming the option', async () => {
    await assert.rejects(
      cli(['serve', '--port', '0', '--heartbeat-interval', 'abc']),
      (error: Error & { code?: number; stderr?: string }) => {
        assert.equal(error.code, 2);
        const lines = error.stderr!.trim().split('\n');
        assert.equal(lines.length, 1, error.stderr);
        assert.match(lines[0]!, /--heartbeat-interval/);
        assert.match(lines[0]!, /duration/);
        return true;
      },
    );
    await assert.rejects(cli(['serve', '--prot', '80']), (error: Error & { stderr?: string }) => {
      assert.match(error.stderr!, /did you mean --port/);
      return true;
    });
    await assert.rejects(
      cli(['serve'], { PUSHWIRE_HISTORY_SIZE: '-1' }),
      (error: Error & { stderr?: string }) => {
        assert.match(error.stderr!, /PUSHWIRE_HISTORY_SIZE/);
        return true;
      },
    );
  });

  test('serve --help lists every option', async () => {
    const { stdout } = await cli(['serve', '--help']);
    for (const flag of [
      '--port',
      '--host',
      '--api-key',
      '--heartbeat-interval',
      '--poll-timeout',
      '--history-size',
      '--history-ttl',
    ]) {
      assert.ok(stdout.includes(flag), flag);
    }
  });
});

describe('client commands', () => {
  test('pushwire publish reaches a subscriber; a wrong key fails with the server error', async () => {
    const server = await startPushwire();
    try {
      const client = openRawClient('sse', server.url, { channels: ['cli'] });
      await client.ready;
      const { stdout } = await cli([
        'publish',
        'cli',
        '{ "from": "cli", "far": 1e999 }',
        '--url',
        server.url,
        '--api-key',
        server.apiKey,
      ]);
      assert.deepEqual(JSON.parse(stdout).offset, 1);
      const message = await client.events.nextMatching((e) => e.type === 'message');
      // Re-serialized on the way, 1e999 would have become null.
      assert.deepEqual(message.type === 'message' && message.data, {
        from: 'cli',
        far: Number.POSITIVE_INFINITY,
      });
      client.close();
      await assert.rejects(
        cli(['publish', 'cli', '1', '--url', server.url, '--api-key', 'nope']),
        (error: Error & { code?: number; stderr?: string }) => {
          assert.equal(error.code, 1);
          assert.match(error.stderr!, /unauthorized/);
          return true;
        },
      );
    } finally {
      await server.stop();
    }
  });

  test('curl -N follows the SSE stream', async () => {
    const server = await startPushwire({ args: ['--heartbeat-interval', '1s'] });
    const curl = spawn('curl', ['-sN', `${server.url}/sse?channel=curl`]);
    try {
      let output = '';
      curl.stdout.setEncoding('utf8');
      await new Promise<void>((resolve) => {
        curl.stdout.on('data', (chunk: string) => {
          output += chunk;
          if (output.includes('event: connected')) resolve();
        });
      });
      for (let i = 1; i <= 3; i++) await server.publish('curl', { i });
      await new Promise<void>((resolve) => {
        const check = () => (output.match(/^data: \{"channel"/gm)?.length === 3 ? resolve() : undefined);
        curl.stdout.on('data', check);
        check();
      });
      assert.match(output, /^retry: \d+$/m);
      const offsets = [...output.matchAll(/^data: \{"channel":"curl","offset":(\d+)/gm)].map((m) =>
        Number(m[1]),
      );
      assert.deepEqual(offsets, [1, 2, 3]);
      assert.match(output, /^id: 1~curl~[\w-]+~3$/m);
    } finally {
      curl.kill();
      await server.stop();
    }
  });
});

describe('failures say what to do, and exit non-zero', () => {
  test('publish to a port where nothing listens names the URL and the cause', async () => {
    const port = await closedPort();
    const { code, stderr } = await cliResult([
      'publish',
      'c',
      '1',
      '--url',
      `http://127.0.0.1:${port}`,
      '--api-key',
      'k',
    ]);
    assert.equal(code, 1, stderr);
    const line = `pushwire publish: cannot reach http://127.0.0.1:${port}: connection refused (ECONNREFUSED): nothing listens on that port; is pushwire serve running there?`;
    assert.ok(stderr.split('\n').includes(line), stderr);
  });

  test('a URL without a scheme gets http://, and says so', async () => {
    const server = await startPushwire();
    try {
      const bare = `127.0.0.1:${server.port}`;
      const { code, stdout, stderr } = await cliResult([
        'publish',
        'c',
        '{"a":1}',
        '--url',
        bare,
        '--api-key',
        server.apiKey,
      ]);
      assert.equal(code, 0, stderr);
      assert.equal(stderr.trim(), `pushwire publish: --url ${bare} has no scheme: using http://${bare}`);
      assert.equal(JSON.parse(stdout).offset, 1);
      const refused = await cliResult(['publish', 'c', '1', '--url', `ftp://${bare}`, '--api-key', 'k']);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /--url: ftp:\/\/\S+ is not an http:\/\/ or https:\/\/ URL/);
    } finally {
      await server.stop();
    }
  });

  test('an unknown flag, command or transport gets the nearest known one', async () => {
    const results = [];
    for (const args of [
      ['publish', 'c', '1', '--ulr', 'http://localhost:8080'],
      ['subscribe', 'c', '--transprt', 'sse'],
      ['subscribe', 'c', '--transport', 'websockt'],
      ['subscibe', 'c'],
    ]) {
      results.push(await cliResult(args));
    }
    for (const { code } of results) assert.equal(code, 2);
    assert.match(results[0]!.stderr, /^pushwire publish: unknown flag --ulr \(did you mean --url\?\)$/m);
    assert.match(results[0]!.stderr, /pushwire publish --help/);
    assert.match(results[1]!.stderr, /unknown flag --transprt \(did you mean --transport\?\)/);
    assert.match(
      results[2]!.stderr,
      /unknown transport "websockt" \(did you mean websocket\?\); use websocket, sse, longpoll, stream, or ws \(= websocket\), poll \(= longpoll\)/,
    );
    assert.match(results[3]!.stderr, /unknown command "subscibe" \(did you mean subscribe\?\)/);
  });

  test('subscribe with nothing listening says where and why while it retries', async () => {
    const port = await closedPort();
    const subscriber = spawnSubscribe(['c', '--url', `localhost:${port}`]);
    try {
      await subscriber.says(/reconnecting to http:\/\/localhost:\d+ over websocket in \d+ ms/);
      const lines = subscriber.stderr();
      assert.match(lines, new RegExp(`has no scheme: using http://localhost:${port}`));
      assert.match(
        lines,
        new RegExp(`# cannot reach http://localhost:${port}: connection refused \\(ECONNREFUSED\\)`),
      );
    } finally {
      subscriber.child.kill('SIGINT');
    }
    assert.equal(await subscriber.exited, 0, 'Ctrl-C ends it normally');
  });

  test("subscribe exits 1 with the server's code when it refuses for good", async () => {
    const server = await startPushwire({ args: ['--token-secret', 'a-secret-of-32-characters-or-more!'] });
    try {
      // The default (WebSocket) and SSE, whose EventSource never shows the 401 to the SDK.
      for (const transport of [[], ['--transport', 'sse']]) {
        const subscriber = spawnSubscribe(['c', '--url', server.url, ...transport]);
        const code = await subscriber.exited;
        assert.equal(code, 1, subscriber.stderr());
        assert.match(subscriber.stderr(), /# error: unauthorized: /);
      }
    } finally {
      await server.stop();
    }
  });

  test('reload refuses a stale pid file naming a process that is not pushwire, and signals nothing', {
    skip: process.platform !== 'linux' && 'process names come from /proc',
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pushwire-reload-'));
    // SIGHUP ends `sleep`: had reload signalled it, it would be gone.
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const pidFile = join(dir, 'serve.pid');
      writeFileSync(pidFile, `${stranger.pid}\n`);
      const { code, stderr } = await cliResult(['reload', '--pid-file', pidFile]);
      assert.equal(code, 1);
      assert.match(
        stderr,
        new RegExp(`process ${stranger.pid} .* is "sleep", not a pushwire serve: the pid file is stale`),
      );
      await new Promise((wake) => setTimeout(wake, 200));
      assert.equal(stranger.exitCode, null, 'still running');
      assert.equal(stranger.signalCode, null, 'not signalled');
    } finally {
      stranger.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every command has a --help with examples', async () => {
    const results = [];
    for (const args of [
      ['--help'],
      ['serve', '--help'],
      ['publish', '--help'],
      ['subscribe', '-h'],
      ['reload', '--help'],
    ]) {
      results.push(await cliResult(args));
    }
    for (const { code, stdout } of results) {
      assert.equal(code, 0);
      assert.match(stdout, /^Usage: pushwire/);
      assert.match(stdout, /\nExamples:\n {2}pushwire /);
    }
    assert.match(results[1]!.stdout, /--log-format <auto\|json\|pretty>/);
  });

  test('logs are pretty lines with --log-format pretty, JSON lines when piped', async () => {
    const pretty = await startPushwire({ args: ['--demo', '--log-level', 'info', '--log-format', 'pretty'] });
    const piped = await startPushwire({ args: ['--demo', '--log-level', 'info'] }).catch(async (error) => {
      await pretty.stop();
      throw error;
    });
    try {
      const line = pretty.output().stderr.split('\n')[0]!;
      assert.match(
        line,
        /^\d\d:\d\d:\d\d\.\d{3} INFO {2}demo on: clients may publish on game:\* channels .* namespace=game$/,
      );
      const json = JSON.parse(piped.output().stderr.split('\n')[0]!);
      assert.equal(json.level, 30);
      assert.match(json.msg, /^demo on/);
    } finally {
      await Promise.all([pretty.stop(), piped.stop()]);
    }
  });
});
