import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/brokers/index.ts';
import { type Publication, PushwireError } from '../../src/protocol/index.ts';
import {
  cleanPrefix,
  type PrivateRedis,
  redisUrl,
  startPrivateRedis,
  uniquePrefix,
} from '../helpers/redis.ts';
import { brokerContract, channelName, RecordingHandler } from './broker.contract.ts';

const OPTIONS = { historySize: 100, historyTtlMs: 300_000 };

brokerContract({
  name: 'redis',
  shared: true,
  async scope() {
    const prefix = uniquePrefix();
    return {
      node: () => new RedisBroker({ url: redisUrl(), prefix }),
      dispose: () => cleanPrefix(prefix),
    };
  },
  async outage() {
    const secret = `pw-${uniquePrefix()}`;
    const redis = await startPrivateRedis([], { password: secret });
    const logged: string[] = [];
    const logger = (level: string, msg: string, error?: unknown): void => {
      logged.push(`${level} ${msg}${error instanceof Error ? `: ${error.message}` : ''}`);
    };
    const prefix = uniquePrefix();
    return {
      secret,
      logged,
      node: () =>
        new RedisBroker({ url: redis.url, prefix, logger, commandTimeoutMs: 500, connectTimeoutMs: 500 }),
      stopServer: () => redis.stop(),
      dispose: () => redis.stop(),
    };
  },
});

/** Started on first use, stopped when the file is done. */
function lazyServers(count: number, extraArgs: () => Promise<string[]> = async () => []) {
  let servers: Promise<PrivateRedis[]> | null = null;
  after(async () => {
    if (servers) await Promise.all((await servers).map((server) => server.stop()));
  });
  return () => {
    servers ??= Promise.all(Array.from({ length: count }, async () => startPrivateRedis(await extraArgs())));
    return servers;
  };
}

const shardServers = lazyServers(2);

brokerContract({
  name: 'redis, two shards',
  shared: true,
  async scope() {
    const shards = (await shardServers()).map((server) => server.url);
    const prefix = uniquePrefix();
    return {
      node: () => new RedisBroker({ url: shards[0]!, shards, prefix }),
      dispose: async () => {
        for (const url of shards) await cleanPrefix(prefix, url);
      },
    };
  },
});

// A one-node Redis Cluster: enough to run every script and SPUBLISH/SSUBSCRIBE through
// ioredis's cluster client, whose slot routing the hash-tagged key names must satisfy.
let clusterDir: string | null = null;
after(async () => {
  if (clusterDir) await rm(clusterDir, { recursive: true, force: true });
});
const clusterServers = lazyServers(1, async () => {
  clusterDir = await mkdtemp(join(tmpdir(), 'pushwire-cluster-'));
  return [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(clusterDir, 'nodes.conf'),
    '--dir',
    clusterDir,
    // Alone, a node doesn't know its own address and reports its slots as served by "".
    '--cluster-announce-ip',
    '127.0.0.1',
  ];
});

async function clusterUrl(): Promise<string> {
  const [server] = await clusterServers();
  const admin = new Redis(server!.url);
  try {
    if (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
    }
    const deadline = Date.now() + 5000;
    while (!String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) {
      if (Date.now() > deadline) throw new Error('the one-node cluster did not reach cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    admin.disconnect();
  }
  return server!.url;
}

brokerContract({
  name: 'redis cluster',
  shared: true,
  async scope() {
    const url = await clusterUrl();
    const prefix = uniquePrefix();
    return {
      node: () => new RedisBroker({ url, prefix, cluster: true }),
      dispose: () => cleanPrefix(prefix, url),
    };
  },
});

describe('redis broker: shards', () => {
  test('channels spread over every shard, the same way whatever the order of the list', async () => {
    const servers = await shardServers();
    const shards = servers.map((server) => server.url);
    const prefix = uniquePrefix();
    const a = new RedisBroker({ url: shards[0]!, shards, prefix });
    const b = new RedisBroker({ url: shards[0]!, shards: [...shards].reverse(), prefix });
    await a.start(new RecordingHandler());
    await b.start(new RecordingHandler());
    try {
      const channels = Array.from({ length: 40 }, (_, i) => `spread:${i}`);
      for (const channel of channels) await a.publish(channel, '1', OPTIONS);
      // Had b picked another shard for a channel, it would find no meta there and start at 1.
      for (const channel of channels)
        assert.equal((await b.publish(channel, '2', OPTIONS)).offset, 2, channel);
      const perShard: number[] = [];
      for (const server of servers) {
        const redis = new Redis(server.url);
        try {
          perShard.push((await redis.keys(`{${prefix}:*}:meta`)).length);
        } finally {
          redis.disconnect();
        }
      }
      assert.equal(perShard[0]! + perShard[1]!, channels.length);
      assert.ok(
        perShard.every((count) => count > 0),
        `keys per shard: ${perShard.join(', ')}`,
      );
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('redis broker: faults', () => {
  test('a Redis restart under a publishing loop: fast rejections, recovery, a new epoch', async (t) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    t.after(() => process.off('unhandledRejection', onUnhandled));

    const redis = await startPrivateRedis();
    let linkLost: () => void = () => {};
    const lost = new Promise<void>((resolve) => {
      linkLost = resolve;
    });
    const broker = new RedisBroker({
      url: redis.url,
      prefix: uniquePrefix(),
      commandTimeoutMs: 500,
      logger: (level, msg) => {
        // The outage's one line (outage.ts): `redis at host:port unreachable (...); retrying`.
        if (msg.includes('unreachable')) linkLost();
        if (process.env.PUSHWIRE_TEST_LOG) console.error(level, msg);
      },
    });
    t.after(async () => {
      await broker.close();
      await redis.stop();
    });
    const handler = new RecordingHandler();
    await broker.start(handler);
    const channel = channelName('faults');
    await broker.subscribe(channel);
    const before = await broker.publish(channel, '"before"', OPTIONS);
    assert.equal(broker.healthy(), true);

    // The loop runs beside the restart, paced and bounded in count and time.
    const outcomes: Array<{ publication: Publication } | { error: unknown; ms: number }> = [];
    let restarted = false;
    const loop = (async () => {
      const deadline = Date.now() + 20_000;
      for (let n = 0; n < 2000 && Date.now() < deadline; n++) {
        const startedAt = performance.now();
        try {
          outcomes.push({ publication: await broker.publish(channel, JSON.stringify(n), OPTIONS) });
          const after = outcomes.filter((o) => 'publication' in o && o.publication.epoch !== before.epoch);
          if (restarted && after.length >= 5) return;
        } catch (error) {
          outcomes.push({ error, ms: performance.now() - startedAt });
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    await redis.stop();
    await lost;
    assert.equal(broker.healthy(), false);
    await assert.rejects(broker.history(channel, {}), { code: 'broker_unavailable' });
    await redis.restart();
    restarted = true;
    await handler.until(() => handler.recoveries > 0, 'recovered()', 15_000);
    await loop;

    const failures = outcomes.flatMap((o) => ('error' in o ? [o] : []));
    const successes = outcomes.flatMap((o) => ('publication' in o ? [o.publication] : []));
    assert.ok(failures.length > 0, 'publishes during the outage failed');
    for (const { error } of failures) {
      assert.ok(error instanceof PushwireError, String(error));
      assert.equal(error.code, 'broker_unavailable');
    }
    const renewed = successes.filter((p) => p.epoch !== before.epoch);
    assert.ok(renewed.length >= 5, 'publishes succeed again after the restart');
    assert.deepEqual(
      renewed.map((p) => p.offset),
      renewed.map((_, i) => i + 1),
      'Redis lost its data: a new epoch, counted from 1',
    );
    // Delivery resumes. What the new epoch published before the subscriber link was back is
    // what recovered() tells the node to fetch from history.
    const marker = await broker.publish(channel, '"after"', OPTIONS);
    await handler.until(
      () => handler.of(channel).some((p) => p.epoch === marker.epoch && p.offset === marker.offset),
      'delivery after the restart',
    );
    const renewedAll = [...renewed, marker];
    const delivered = handler.of(channel).filter((p) => p.epoch === marker.epoch);
    assert.deepEqual(delivered, renewedAll.slice(renewedAll.length - delivered.length));
    const history = await broker.history(channel, { since: { epoch: marker.epoch, offset: 0 } });
    assert.deepEqual(history.publications, renewedAll);
    assert.equal(handler.recoveries, 1);
    assert.equal(broker.healthy(), true);
    assert.deepEqual(unhandled, []);
    const slowest = Math.max(...failures.map((f) => f.ms));
    t.diagnostic(
      `${failures.length} rejected publishes during the outage, slowest rejection ${slowest.toFixed(1)} ms`,
    );
  });

  test('a Redis that hangs: commands time out with broker_unavailable, then work again', async (t) => {
    const redis = await startPrivateRedis();
    const broker = new RedisBroker({ url: redis.url, prefix: uniquePrefix(), commandTimeoutMs: 200 });
    t.after(async () => {
      // A stopped process keeps a SIGTERM pending: continue it first so stop() can end it.
      process.kill(redis.pid, 'SIGCONT');
      await broker.close();
      await redis.stop();
    });
    await broker.start(new RecordingHandler());
    const channel = channelName('hang');
    const before = await broker.publish(channel, '1', OPTIONS);
    process.kill(redis.pid, 'SIGSTOP');
    await assert.rejects(broker.publish(channel, '2', OPTIONS), { code: 'broker_unavailable' });
    await assert.rejects(broker.history(channel, {}), { code: 'broker_unavailable' });
    process.kill(redis.pid, 'SIGCONT');
    // The timed-out publish may still have run once Redis went on: the publisher can't know,
    // which is why it was told of a failure rather than of success.
    const after = await broker.publish(channel, '3', OPTIONS);
    assert.equal(after.epoch, before.epoch);
    assert.ok(after.offset === 2 || after.offset === 3, `offset ${after.offset}`);
  });

  test('start rejects with broker_unavailable when Redis refuses the password, saying so without it', async (t) => {
    const redis = await startPrivateRedis([], { password: 'right-password' });
    t.after(() => redis.stop());
    const url = redis.url.replace('right-password', 'wrong-password');
    const broker = new RedisBroker({ url, prefix: uniquePrefix(), connectTimeoutMs: 500 });
    await assert.rejects(broker.start(new RecordingHandler()), (error: unknown) => {
      assert.ok(error instanceof PushwireError);
      assert.equal(error.code, 'broker_unavailable');
      assert.match(error.message, /WRONGPASS/);
      assert.match(error.message, /redis:\/\/:\*\*\*@127\.0\.0\.1:\d+/);
      assert.doesNotMatch(error.message, /wrong-password/);
      return true;
    });
    await broker.close();
  });

  test('start rejects with broker_unavailable when Redis is unreachable', async () => {
    const redis = await startPrivateRedis();
    await redis.stop();
    const broker = new RedisBroker({ url: redis.url, prefix: uniquePrefix(), connectTimeoutMs: 300 });
    await assert.rejects(broker.start(new RecordingHandler()), { code: 'broker_unavailable' });
    assert.equal(broker.healthy(), false);
    await broker.close();
  });
});
