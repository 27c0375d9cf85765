import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  eventsOf,
  type HookReceiver,
  type ReceivedEvent,
  startHookReceiver,
} from '../helpers/hook-receiver.ts';
import { freePort } from '../helpers/ports.ts';
import { cleanPrefix, redisUrl, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { openWsSession, type WsSession } from '../helpers/ws-session.ts';

const SECRET = 'test-hook-secret-0123456789abcdef';

const story = (events: readonly ReceivedEvent[]) =>
  events.map((e) => [e.type, e.channel, e.reason].filter((part) => part).join(' '));

/** Polls `check` until it holds (bounded). */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function assertInOrder(events: readonly ReceivedEvent[], clients: readonly string[]): void {
  for (const client of clients) {
    // A node_lost disconnect is unnumbered: another node tells it, without the client's count.
    const seqs = eventsOf(events, client)
      .filter((e) => e.reason !== 'node_lost')
      .map((e) => e.clientSeq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      `client ${client}: clientSeq 1, 2, 3 … in arrival order`,
    );
  }
}

describe('lifecycle webhooks on Redis: events outlive the node that made them', () => {
  const prefix = uniquePrefix();
  const stream = `{${prefix}:hooks}:events`;
  const lease = `{${prefix}:hooks}:sender`;
  let redis: Redis;
  let port: number;
  let receiver: HookReceiver | null = null;
  const nodes: RunningPushwire[] = [];
  const sessions: WsSession[] = [];

  const startNode = async () => {
    const node = await startPushwire({
      args: [
        '--broker',
        'redis',
        '--redis-url',
        redisUrl(),
        '--redis-prefix',
        prefix,
        '--hook-url',
        `http://127.0.0.1:${port}/events`,
        '--hook-secret',
        SECRET,
        '--shutdown-timeout',
        '2s',
        // Short: the killed node's clients are told lost within the test's patience.
        '--node-lease',
        '3s',
      ],
    });
    nodes.push(node);
    return node;
  };
  const connect = async (node: RunningPushwire) => {
    const session = openWsSession(node.url);
    sessions.push(session);
    return { session, id: await session.connected };
  };
  const streamHolds = (count: number) =>
    eventually(async () => (await redis.xlen(stream)) >= count, 10_000, `${count} events in the stream`);

  before(async () => {
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    port = await freePort();
  });
  after(async () => {
    for (const session of sessions) session.close();
    await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
    await receiver?.close();
    redis.disconnect();
    await cleanPrefix(prefix);
  });

  test('a node killed with its events undelivered: another node delivers them once the receiver is back', async () => {
    // The receiver is down from the start: nothing listens on its port.
    const a = await startNode();
    const first = await connect(a);
    // Node A is the only node: the sender lease, once taken, is its.
    await eventually(
      async () => (await redis.get(lease)) !== null,
      10_000,
      'node A to hold the sender lease',
    );
    const nodeA = (await redis.get(lease))!;
    const b = await startNode();
    await first.session.request({ op: 'subscribe', channel: 'x' });
    await first.session.request({ op: 'unsubscribe', channel: 'x' });
    first.session.close();
    const stays = await connect(a);
    await stays.session.request({ op: 'subscribe', channel: 'x' });
    const onB = await connect(b);
    await onB.session.request({ op: 'subscribe', channel: 'x' });
    onB.session.close();
    // 10 client events, and x occupied, vacated and occupied again.
    await streamHolds(13);

    await a.stop('SIGKILL');
    receiver = await startHookReceiver(SECRET, port);
    await receiver.until(
      (events) =>
        events.length >= 13 &&
        events.some((e) => e.clientId === stays.id && e.reason === 'node_lost') &&
        events.filter((e) => e.type === 'channel_vacated' && e.channel === 'x').length === 2,
      30_000,
      "the dead node's and the other node's events, and the dead node's loss",
    );
    assert.deepEqual(story(eventsOf(receiver.events, first.id)), [
      'connect',
      'subscribe x',
      'unsubscribe x',
      'disconnect client_closed',
    ]);
    assert.deepEqual(story(eventsOf(receiver.events, stays.id)), [
      'connect',
      'subscribe x',
      'disconnect node_lost',
    ]);
    assert.deepEqual(story(eventsOf(receiver.events, onB.id)), [
      'connect',
      'subscribe x',
      'unsubscribe x',
      'disconnect client_closed',
    ]);
    assert.ok(
      receiver.calls.every((call) => call.signed),
      'signed',
    );
    assertInOrder(receiver.events, [first.id, stays.id, onB.id]);
    await eventually(
      async () => (await redis.xlen(stream)) === 0,
      5000,
      'delivered events to leave the stream',
    );
    const connectOfB = receiver.events.find((e) => e.type === 'connect' && e.clientId === onB.id);
    assert.equal(await redis.get(lease), connectOfB?.node, 'the surviving node took over');
    assert.notEqual(connectOfB?.node, nodeA);
  });

  test('a node restarted while the receiver is down: the restarted node delivers what the old one left', async () => {
    await receiver?.close();
    receiver = null;
    const b = nodes.at(-1)!;
    const drained = await connect(b);
    await drained.session.request({ op: 'subscribe', channel: 'y' });
    assert.equal(await b.stop(), 0);
    // 4 client events, and y occupied and vacated.
    await streamHolds(6);
    await startNode();
    receiver = await startHookReceiver(SECRET, port);
    await receiver.until((events) => events.length >= 6, 20_000, 'the events of the drained client');
    assert.deepEqual(story(eventsOf(receiver.events, drained.id)), [
      'connect',
      'subscribe y',
      'unsubscribe y',
      'disconnect drained',
    ]);
    assertInOrder(receiver.events, [drained.id]);
  });
});
