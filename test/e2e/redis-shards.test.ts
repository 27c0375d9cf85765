import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { openRawClient, type RawClient, takeMessages } from '../helpers/clients.ts';
import { type PrivateRedis, startPrivateRedis, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

describe('redis: channels sharded over two Redis servers (--redis-shards)', () => {
  const prefix = uniquePrefix();
  let shards: PrivateRedis[] = [];
  let a: RunningPushwire;
  let b: RunningPushwire;
  const open: RawClient[] = [];

  before(async () => {
    shards = await Promise.all([startPrivateRedis(), startPrivateRedis()]);
    const urls = shards.map((shard) => shard.url);
    const base = ['--broker', 'redis', '--redis-prefix', prefix];
    // The nodes list the shards in different orders: they must still agree on each channel's.
    [a, b] = await Promise.all([
      startPushwire({ args: [...base, '--redis-shards', urls.join(',')] }),
      startPushwire({ args: [...base, '--redis-shards', [...urls].reverse().join(',')] }),
    ]);
  });
  after(async () => {
    for (const opened of open) opened.close();
    await Promise.all([a, b].map((node) => node?.stop()));
    await Promise.all(shards.map((shard) => shard.stop()));
  });

  test('publishes on A reach subscribers on B on every channel, and both shards hold channels', async () => {
    const channels = Array.from({ length: 20 }, (_, i) => `spread-${i}`);
    const client = openRawClient('websocket', b.url, { channels });
    open.push(client);
    await client.ready;
    for (const channel of channels) {
      assert.equal((await a.publish(channel, 1)).offset, 1, channel);
      assert.equal((await b.publish(channel, 2)).offset, 2, `${channel}: one offset sequence for both nodes`);
    }
    const got = await takeMessages(client, 2 * channels.length);
    for (const channel of channels) {
      assert.deepEqual(
        got.filter((m) => m.channel === channel).map((m) => [m.offset, m.data]),
        [
          [1, 1],
          [2, 2],
        ],
        channel,
      );
    }
    const perShard = await Promise.all(
      shards.map(async (shard) => {
        const redis = new Redis(shard.url);
        try {
          return (await redis.keys(`{${prefix}:*}:meta`)).length;
        } finally {
          redis.disconnect();
        }
      }),
    );
    assert.equal(perShard[0]! + perShard[1]!, channels.length);
    assert.ok(
      perShard.every((count) => count > 0),
      `channels per shard: ${perShard.join(', ')}`,
    );
  });
});
