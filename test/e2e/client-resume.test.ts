import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Message, TransportName } from '../../src/client/index.ts';
import { type ClientProxy, startClientProxy } from '../helpers/client-proxy.ts';
import { nodeClient } from '../helpers/client-sdk.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'longpoll', 'stream'];
const COUNT = 1000;
const RATE_PER_S = 200;

/** Publishes 1..COUNT at RATE_PER_S, calling `at` before publishing each number. */
async function publishPaced(
  server: RunningPushwire,
  channel: string,
  at: (n: number) => void,
): Promise<void> {
  const start = Date.now();
  for (let n = 1; n <= COUNT; n++) {
    at(n);
    await server.publish(channel, n);
    const ahead = start + (n * 1000) / RATE_PER_S - Date.now();
    if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
  }
}

function assertWhole(messages: Message[]): void {
  assert.deepEqual(
    messages.map((m) => m.data),
    Array.from({ length: COUNT }, (_, i) => i + 1),
    'every message once, in order',
  );
  for (let i = 1; i < messages.length; i++) assert.equal(messages[i]!.offset, messages[i - 1]!.offset + 1);
}

describe('resume across TCP cuts: 1,000 messages at 200 msg/s, connections cut three times', () => {
  let server: RunningPushwire;
  let proxy: ClientProxy;
  before(async () => {
    // History holds all of them, so the only way to lose one would be the client's.
    server = await startPushwire({ args: ['--history-size', '2000'] });
    proxy = await startClientProxy(server.port);
  });
  after(async () => {
    await proxy.close();
    await server.stop();
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: 0 lost, 0 duplicated`, async () => {
      const channel = `cut-${transport}`;
      const observed = nodeClient(proxy.url, [channel], { transports: [transport], baseDelayMs: 100 });
      let reconnects = 0;
      observed.client.on('connected', () => reconnects++);
      try {
        await observed.next('subscribed');
        await publishPaced(server, channel, (n) => {
          if (n === 250 || n === 500 || n === 750) proxy.cutAll();
        });
        const got = await observed.messages.take(COUNT, 30_000);
        assertWhole(got);
        // Nothing more is queued: the next message is the one published after them all.
        await server.publish(channel, 'end');
        assert.equal((await observed.messages.next()).data, 'end');
        assert.ok(reconnects >= 2, `the client reconnected (${reconnects} connects)`);
      } finally {
        observed.client.close();
      }
    });
  }
});

describe('the heartbeat watchdog', () => {
  let server: RunningPushwire;
  let proxy: ClientProxy;
  before(async () => {
    server = await startPushwire({ args: ['--heartbeat-interval', '300ms', '--poll-timeout', '1s'] });
    proxy = await startClientProxy(server.port);
  });
  after(async () => {
    await proxy.close();
    await server.stop();
  });

  // SSE is left out: EventSource never shows the comment lines SSE heartbeats are made of.
  for (const transport of ['websocket', 'stream', 'longpoll'] as const) {
    test(`${transport}: a connection gone silent (frozen, never closed) is replaced, nothing lost`, async () => {
      const channel = `frozen-${transport}`;
      const observed = nodeClient(proxy.url, [channel], {
        transports: [transport],
        heartbeatGraceMs: 300,
        longPollTimeoutMs: 2000,
        baseDelayMs: 50,
      });
      try {
        await observed.next('subscribed');
        await server.publish(channel, 'before');
        assert.equal((await observed.messages.next()).data, 'before');
        proxy.freezeAll();
        await server.publish(channel, 'while frozen');
        const { reason } = await observed.next('disconnected', 10_000);
        assert.match(reason, transport === 'longpoll' ? /timed out/ : /heartbeat/);
        await observed.next('connected');
        await server.publish(channel, 'after');
        const got = await observed.messages.take(2);
        assert.deepEqual(
          got.map((m) => m.data),
          ['while frozen', 'after'],
        );
      } finally {
        observed.client.close();
      }
    });
  }
});

describe('a server restart on the memory broker', () => {
  test('the client reports the gap, then goes on live', async () => {
    let server = await startPushwire();
    const { port } = server;
    const observed = nodeClient(server.url, ['restart'], { baseDelayMs: 100, maxDelayMs: 1000 });
    try {
      await observed.next('subscribed');
      const before = await server.publish('restart', 'old');
      assert.equal((await observed.messages.next()).data, 'old');
      await server.stop();
      await observed.next('disconnected');
      server = await startPushwire({ port });
      const gap = await observed.next('gap', 20_000);
      assert.equal(gap.channel, 'restart');
      assert.equal(gap.reason, 'epoch');
      assert.equal(gap.lastOffset, before.offset);
      assert.notEqual(gap.epoch, before.epoch);
      const after = await server.publish('restart', 'new');
      const got = await observed.messages.next();
      assert.deepEqual([got.data, got.epoch, got.offset], ['new', after.epoch, after.offset]);
    } finally {
      observed.client.close();
      await server.stop();
    }
  });
});
