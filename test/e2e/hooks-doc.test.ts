import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { openWsSession } from '../helpers/ws-session.ts';

const SECRET = 'test-hook-secret-0123456789abcdef';
const doc = readFileSync(fileURLToPath(new URL('../../docs/hooks.md', import.meta.url)), 'utf8');
/** The receiver docs/hooks.md shows: its first js block, run as it is. */
const receiverCode = /```js\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';

describe('the receiver of docs/hooks.md', () => {
  let port: number;
  let output = '';
  let receiver: ReturnType<typeof spawn>;
  let server: RunningPushwire;

  before(async () => {
    port = await freePort();
    receiver = spawn(process.execPath, ['--input-type=module', '-e', receiverCode], {
      env: { ...process.env, HOOK_SECRET: SECRET, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    receiver.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    server = await startPushwire({
      args: ['--hook-url', `http://127.0.0.1:${port}/`, '--hook-secret', SECRET],
    });
  });
  after(async () => {
    await server?.stop();
    receiver?.kill();
  });

  test('verifies the signature and prints each event once', async () => {
    assert.ok(receiverCode.split('\n').length < 30, 'short enough to copy');
    const client = openWsSession(server.url);
    const clientId = await client.connected;
    await client.request({ op: 'subscribe', channel: 'docs' });
    client.close();
    const deadline = Date.now() + 10_000;
    while (!output.includes(`disconnect ${clientId}`) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(output.trim().split('\n'), [
      `connect ${clientId} null`,
      'channel_occupied null docs',
      `subscribe ${clientId} docs`,
      `unsubscribe ${clientId} docs`,
      'channel_vacated null docs',
      `disconnect ${clientId} null`,
    ]);
    const forged = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: { 'Pushwire-Signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` },
      body: '{"events":[]}',
    });
    assert.equal(forged.status, 401);
  });
});
