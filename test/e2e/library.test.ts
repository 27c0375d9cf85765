import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { createPushwire } from '../../src/index.ts';
import { openRawClient, takeMessages } from '../helpers/clients.ts';

test('createPushwire mounts on a host server, serves its paths under a prefix, and gives them back on close', async () => {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`host handled ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const pushwire = await createPushwire(server, { prefix: '/push', logger: pino({ level: 'silent' }) });
  try {
    assert.equal(await (await fetch(`${base}/hello`)).text(), 'host handled /hello');
    assert.equal((await fetch(`${base}/push/healthz`)).status, 200);

    const client = openRawClient('sse', `${base}/push`, { channels: ['lib'] });
    await client.ready;
    const published = await pushwire.publish('lib', { from: 'server code' });
    assert.equal(published.offset, 1);
    assert.deepEqual((await takeMessages(client, 1))[0]!.data, { from: 'server code' });
    client.close();

    const api = await fetch(`${base}/push/api/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${pushwire.apiKey}`, 'Content-Type': 'application/json' },
      body: '{"channel":"lib","data":2}',
    });
    assert.equal(api.status, 200, 'a generated API key is exposed to the host');
    await assert.rejects(pushwire.publish('bad name', 1), /invalid channel/);
    // The library call takes the same checks as every other publish.
    await assert.rejects(pushwire.publish('lib', 'x'.repeat(pushwire.config.maxMessageBytes)), {
      code: 'payload_too_large',
    });
    await assert.rejects(pushwire.publish('lib', 10n), { code: 'invalid_request' });
  } finally {
    await pushwire.close();
  }
  assert.equal(
    await (await fetch(`${base}/push/sse?channel=lib`)).text(),
    'host handled /push/sse?channel=lib',
  );
  assert.equal(server.listening, true, 'the host server stays open');
  assert.equal(server.listenerCount('request'), 1);
  assert.equal(server.listenerCount('upgrade'), 0);
  await new Promise((resolve) => server.close(resolve));
});
