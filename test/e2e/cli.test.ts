import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
        '{"from":"cli"}',
        '--url',
        server.url,
        '--api-key',
        server.apiKey,
      ]);
      assert.deepEqual(JSON.parse(stdout).offset, 1);
      const message = await client.events.nextMatching((e) => e.type === 'message');
      assert.deepEqual(message.type === 'message' && message.data, { from: 'cli' });
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
