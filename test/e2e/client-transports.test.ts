import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TransportName } from '../../src/client/index.ts';
import { type ClientProxy, startClientProxy } from '../helpers/client-proxy.ts';
import { nodeClient } from '../helpers/client-sdk.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'longpoll', 'stream'];

describe('the client SDK against a real server, on Node', () => {
  let server: RunningPushwire;

  before(async () => {
    server = await startPushwire({ env: { PUSHWIRE_NAMESPACES: '{"game":{"clientPublish":true}}' } });
  });
  after(async () => {
    await server.stop();
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: delivers each message once, in order, as the contract shapes it`, async () => {
      const channel = `sdk-${transport}`;
      const observed = nodeClient(server.url, [channel], { transports: [transport] });
      try {
        assert.equal((await observed.next('connected')).transport, transport);
        assert.equal(observed.client.transport, transport);
        assert.equal(observed.client.state, 'connected');
        assert.deepEqual(await observed.next('subscribed'), { channel });
        const sent = [];
        for (let i = 1; i <= 5; i++) sent.push(await server.publish(channel, { n: i }));
        const got = await observed.messages.take(5);
        assert.deepEqual(
          got.map(({ channel, offset, epoch, data }) => ({ channel, offset, epoch, data })),
          sent.map(({ channel, offset, epoch }, i) => ({ channel, offset, epoch, data: { n: i + 1 } })),
        );
        assert.ok(got.every((message) => typeof message.cursor === 'string'));
      } finally {
        observed.client.close();
      }
    });
  }

  test('sse: subscribing to another channel later keeps the first one whole', async () => {
    const observed = nodeClient(server.url, ['set-a'], { transports: ['sse'] });
    try {
      await observed.next('connected');
      assert.deepEqual(await observed.next('subscribed'), { channel: 'set-a' });
      await server.publish('set-a', 1);
      await observed.messages.next();
      observed.client.subscribe('set-b', observed.messages.push);
      // Published while the client swaps its connection for one with both channels.
      await server.publish('set-a', 2);
      await observed.events.nextMatching((e) => e.type === 'subscribed' && e.payload.channel === 'set-b');
      await server.publish('set-b', 'b1');
      await server.publish('set-a', 3);
      const got = await observed.messages.take(3);
      assert.deepEqual(got.map((m) => `${m.channel}:${JSON.stringify(m.data)}`).sort(), [
        'set-a:2',
        'set-a:3',
        'set-b:"b1"',
      ]);
    } finally {
      observed.client.close();
    }
  });

  test('websocket: publish from the client where the namespace allows it', async () => {
    const observed = nodeClient(server.url, ['game:1'], { transports: ['websocket'] });
    try {
      await observed.next('subscribed');
      const result = await observed.client.publish('game:1', { move: 'e4' });
      assert.equal(result.channel, 'game:1');
      const message = await observed.messages.next();
      assert.deepEqual(
        [message.offset, message.epoch, message.data],
        [result.offset, result.epoch, { move: 'e4' }],
      );
      await assert.rejects(observed.client.publish('closed-ns', 1), { code: 'forbidden' });
    } finally {
      observed.client.close();
    }
  });

  describe('behind a proxy that refuses WebSocket upgrades', () => {
    let proxy: ClientProxy;
    before(async () => {
      proxy = await startClientProxy(server.port);
      proxy.refuseWebSocket(true);
    });
    after(() => proxy.close());

    test('falls back to SSE by itself and receives', async () => {
      const observed = nodeClient(proxy.url, ['fallback']);
      try {
        assert.equal((await observed.next('connected')).transport, 'sse');
        await observed.next('subscribed');
        const sent = await server.publish('fallback', 'through');
        const got = await observed.messages.next();
        assert.deepEqual([got.offset, got.data], [sent.offset, 'through']);
      } finally {
        observed.client.close();
      }
    });

    test('moves back up to WebSocket once the proxy lets it through, losing nothing', async () => {
      const observed = nodeClient(proxy.url, ['upgrade'], { upgradeAfterMs: 200 });
      try {
        assert.equal((await observed.next('connected')).transport, 'sse');
        await observed.next('subscribed');
        await server.publish('upgrade', 1);
        proxy.refuseWebSocket(false);
        await server.publish('upgrade', 2);
        assert.equal((await observed.next('connected', 5000)).transport, 'websocket');
        await observed.next('subscribed');
        await server.publish('upgrade', 3);
        const got = await observed.messages.take(3);
        assert.deepEqual(
          got.map((m) => m.data),
          [1, 2, 3],
        );
        assert.equal(observed.client.transport, 'websocket');
      } finally {
        proxy.refuseWebSocket(true);
        observed.client.close();
      }
    });
  });
});
