import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_KEY,
  adminCall,
  eventually,
  openSocket,
  openTextStream,
  type TextStream,
  TOKEN_SECRET,
  userToken,
} from '../helpers/admin.ts';
import { cleanPrefix, redisUrl, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

type ChannelPage = { channels: Array<{ channel: string; subscribers: number }>; next: string | null };

describe('admin API across two nodes on Redis', { timeout: 180_000 }, () => {
  const prefix = uniquePrefix();
  let a: RunningPushwire;
  let b: RunningPushwire;
  const streams: TextStream[] = [];
  const sse = async (server: RunningPushwire, channel: string, user: string) => {
    const stream = await openTextStream(
      `${server.url}/sse?channel=${channel}&token=${await userToken(user)}`,
    );
    streams.push(stream);
    await stream.until('event: connected');
    return stream;
  };

  before(async () => {
    const args = [
      '--broker',
      'redis',
      '--redis-url',
      redisUrl(),
      '--redis-prefix',
      prefix,
      '--admin-key',
      ADMIN_KEY,
      '--token-secret',
      TOKEN_SECRET,
    ];
    [a, b] = await Promise.all([startPushwire({ args }), startPushwire({ args })]);
  });
  after(async () => {
    for (const stream of streams) stream.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await cleanPrefix(prefix);
  });

  test('/api/info on either node lists both nodes', async () => {
    for (const server of [a, b]) {
      const { body } = await adminCall(server.url, '/api/info');
      const nodes = body.nodes as Array<{ node: string; broker: { kind: string; healthy: boolean } }>;
      assert.equal(nodes.length, 2);
      assert.ok(nodes.some((node) => node.node === body.node));
      for (const node of nodes) assert.deepEqual(node.broker, { kind: 'redis', healthy: true });
    }
  });

  test('channel counts add up the subscribers of both nodes, a page at a time', async () => {
    await sse(a, 'multi:x', 'u1');
    await sse(a, 'multi:x', 'u2');
    await sse(b, 'multi:x', 'u3');
    await sse(b, 'multi:y', 'u4');
    const expected = [
      { channel: 'multi:x', subscribers: 3 },
      { channel: 'multi:y', subscribers: 1 },
    ];
    for (const server of [a, b]) {
      await eventually(async () => {
        const { body } = await adminCall(server.url, '/api/channels?prefix=multi:');
        return JSON.stringify(body.channels) === JSON.stringify(expected);
      }, `both counts as seen from ${server.url}`);
    }
    const first = (await adminCall(a.url, '/api/channels?prefix=multi:&limit=1'))
      .body as unknown as ChannelPage;
    assert.deepEqual(first, { channels: [expected[0]], next: 'multi:x' });
    const second = (await adminCall(a.url, '/api/channels?prefix=multi:&limit=1&after=multi:x'))
      .body as unknown as ChannelPage;
    assert.deepEqual(second, { channels: [expected[1]], next: null });
  });

  test('connections of both nodes, history published on one read on the other', async () => {
    await sse(a, 'multi:conn', 'gina');
    await sse(b, 'multi:conn', 'gina');
    const { body } = await adminCall(b.url, '/api/connections?user=gina');
    const nodes = (body.connections as Array<{ node: string }>).map((c) => c.node);
    assert.equal(new Set(nodes).size, 2, 'one connection on each node');
    await a.publish('multi:hist', 'one');
    await a.publish('multi:hist', 'two');
    const history = await adminCall(b.url, '/api/history?channel=multi:hist');
    assert.deepEqual(
      (history.body.messages as Array<{ data: string }>).map((m) => m.data),
      ['two', 'one'],
    );
  });

  test('disconnect on one node ends the user on the other; a reconnect to either is refused', async () => {
    const token = await userToken('hank');
    const onA = await openSocket(a.url, 'multi:dis', token);
    const onB = await sse(b, 'multi:dis', 'hank');
    const { body } = await adminCall(a.url, '/api/disconnect', {
      method: 'POST',
      key: a.apiKey,
      body: { user: 'hank' },
    });
    assert.deepEqual(body, { disconnected: 2, failed: [] });
    assert.equal(await onA.closed, 4503);
    assert.match(await onB.ended, /"code":"disconnected"/);
    for (const server of [a, b]) {
      const again = await fetch(`${server.url}/sse?channel=multi:dis&token=${token}`);
      assert.equal(again.status, 401, `refused on ${server.url}`);
      assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'disconnected');
    }
    // By clientId, the node that holds the client ends it.
    const other = await openSocket(b.url, 'multi:dis', await userToken('ivy'));
    const byId = await adminCall(a.url, '/api/disconnect', {
      method: 'POST',
      body: { clientId: other.clientId },
    });
    assert.deepEqual(byId.body, { disconnected: 1, failed: [] });
    assert.equal(await other.closed, 4503);
  });

  test('a node that stops leaves the cluster: the other lists itself alone and drops its counts', async () => {
    const c = await startPushwire({
      args: [
        '--broker',
        'redis',
        '--redis-url',
        redisUrl(),
        '--redis-prefix',
        prefix,
        '--shutdown-timeout',
        '1s',
      ],
    });
    const stream = await openTextStream(`${c.url}/sse?channel=multi:leaving`);
    await stream.until('event: connected');
    await eventually(async () => {
      const { body } = await adminCall(a.url, '/api/channels?prefix=multi:leaving');
      return (body.channels as unknown[]).length === 1;
    }, 'the third node to report its channel');
    assert.equal(((await adminCall(a.url, '/api/info')).body.nodes as unknown[]).length, 3);
    stream.close();
    await c.stop();
    const { body } = await adminCall(a.url, '/api/info');
    assert.equal((body.nodes as unknown[]).length, 2);
    assert.deepEqual((await adminCall(a.url, '/api/channels?prefix=multi:leaving')).body.channels, []);
  });
});
