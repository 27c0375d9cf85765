import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PushwireEvents, TransportName } from '../../src/client/index.ts';
import { nodeClient } from '../helpers/client-sdk.ts';
import { AsyncQueue } from '../helpers/queue.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const TRANSPORTS: TransportName[] = ['websocket', 'sse', 'longpoll', 'stream'];
const HTTP_TRANSPORTS: TransportName[] = ['sse', 'longpoll', 'stream'];

describe('client publish, heartbeat events and a starting cursor, on Node', () => {
  let server: RunningPushwire;

  before(async () => {
    // game: lets clients publish, 10 publishes a second per connection (bursts of 20), and
    // 5 per address (bursts of 10): the SDK's HTTP publishes may take several connections.
    server = await startPushwire({
      args: [
        '--config',
        'test/fixtures/game-namespace.yaml',
        '--client-publish-rate-per-ip',
        '5',
        '--heartbeat-interval',
        '1s',
        '--poll-timeout',
        '1s',
      ],
    });
  });
  after(async () => {
    await server.stop();
  });

  for (const transport of HTTP_TRANSPORTS) {
    test(`${transport}: publish goes over POST /publish and comes back as a message`, async () => {
      const channel = `game:http-${transport}`;
      const observed = nodeClient(server.url, [channel], { transports: [transport] });
      try {
        await observed.next('subscribed');
        const result = await observed.client.publish(channel, { move: transport });
        assert.equal(result.channel, channel);
        assert.equal(typeof result.epoch, 'string');
        const message = await observed.messages.next();
        assert.deepEqual(
          [message.offset, message.epoch, message.data],
          [result.offset, result.epoch, { move: transport }],
        );
        assert.equal(observed.client.transport, transport, 'still on the forced transport');
      } finally {
        observed.client.close();
      }
    });

    test(`${transport}: a publish the namespace forbids rejects with the server's code`, async () => {
      const observed = nodeClient(server.url, ['open-channel'], { transports: [transport] });
      try {
        await observed.next('subscribed');
        await assert.rejects(observed.client.publish('open-channel', 1), { code: 'forbidden' });
      } finally {
        observed.client.close();
      }
    });
  }

  test('sse: past the client publish rate the server answers rate_limited, and the SDK says so', async () => {
    const observed = nodeClient(server.url, ['game:flood'], { transports: ['sse'] });
    try {
      await observed.next('connected');
      // 60 at once against a burst of 10: most must be refused, whatever the machine's speed.
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, (_, n) => observed.client.publish('game:flood', n)),
      );
      const refused = results.filter((r) => r.status === 'rejected');
      assert.ok(refused.length >= 30, `${refused.length} of 60 refused`);
      for (const r of refused) {
        const reason = r.reason as { code?: string; retryAfterMs?: number };
        assert.equal(reason.code, 'rate_limited');
        assert.equal(reason.retryAfterMs, 1000, 'the SDK passes on the wait the server asked for');
      }
      assert.ok(
        results.some((r) => r.status === 'fulfilled'),
        'the burst itself is accepted',
      );
    } finally {
      observed.client.close();
    }
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: a heartbeat event arrives with the server's pings`, async () => {
      const observed = nodeClient(server.url, [`beat-${transport}`], { transports: [transport] });
      const beats = new AsyncQueue<PushwireEvents['heartbeat']>();
      observed.client.on('heartbeat', beats.push);
      try {
        await observed.next('connected');
        // Heartbeat every 1 s of silence (long poll: each held poll the 1 s timeout ends empty).
        assert.deepEqual(await beats.next(5000, 'a heartbeat'), { transport });
        assert.deepEqual(await beats.next(5000, 'a second heartbeat'), { transport });
      } finally {
        observed.client.close();
      }
    });
  }

  for (const transport of TRANSPORTS) {
    test(`${transport}: the cursor option resumes after it on the first connect`, async () => {
      const channel = `from-cursor-${transport}`;
      const first = nodeClient(server.url, [channel], { transports: [transport] });
      let cursor: string;
      try {
        await first.next('subscribed');
        await server.publish(channel, 1);
        cursor = (await first.messages.next()).cursor!;
      } finally {
        first.client.close();
      }
      await server.publish(channel, 2);
      await server.publish(channel, 3);
      const resumed = nodeClient(server.url, [channel], { transports: [transport], cursor });
      try {
        const got = await resumed.messages.take(2);
        assert.deepEqual(
          got.map((m) => m.data),
          [2, 3],
        );
        await server.publish(channel, 4);
        assert.equal((await resumed.messages.next()).data, 4);
      } finally {
        resumed.client.close();
      }
    });
  }

  test('a malformed cursor option is refused at construction', () => {
    assert.throws(() => nodeClient(server.url, ['x'], { cursor: 'not a cursor' }), {
      code: 'invalid_cursor',
    });
  });
});
