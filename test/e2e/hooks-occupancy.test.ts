import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type HookReceiver, type ReceivedEvent, startHookReceiver } from '../helpers/hook-receiver.ts';
import { type PrivateRedis, startPrivateRedis } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { openWsSession, type WsSession } from '../helpers/ws-session.ts';

const SECRET = 'test-hook-secret-0123456789abcdef';
/** Short, so that a killed node is found lost soon; nodes renew it every third. */
const LEASE_MS = 1500;
/** A failure bound, not a speed claim: the lease, its claim, and a loaded machine's delivery. */
const LOST_WITHIN_MS = LEASE_MS * 3 + 15_000;
/** How long delivered events may take on a loaded machine (a failure bound). */
const PATIENCE_MS = 30_000;

/** A channel's events in the order of their channelSeq, as `type clientId`. */
function channelStory(events: readonly ReceivedEvent[], channel: string): string[] {
  return channelEvents(events, channel).map((e) => `${e.type}${e.clientId ? ` ${e.clientId}` : ''}`);
}

function channelEvents(events: readonly ReceivedEvent[], channel: string): ReceivedEvent[] {
  return events
    .filter((e) => e.channel === channel && e.type !== 'publish')
    .sort((x, y) => x.channelSeq! - y.channelSeq!);
}

/** The node a client connected to, as its `connect` event says (client ids don't tell). */
function nodeOfClient(events: readonly ReceivedEvent[], clientId: string): string {
  const connect = events.find((e) => e.type === 'connect' && e.clientId === clientId);
  assert.ok(connect, `the connect event of ${clientId}`);
  return connect.node;
}

/** Every numbered event of `channel` has a number, one after the other, each arriving once. */
function assertOneSequence(events: readonly ReceivedEvent[], channel: string): void {
  const ordered = channelEvents(events, channel);
  assert.ok(
    ordered.every((e) => typeof e.channelSeq === 'number'),
    `${channel}: every event is numbered`,
  );
  const seqs = ordered.map((e) => e.channelSeq!);
  assert.deepEqual(
    seqs,
    seqs.map((_, i) => seqs[0]! + i),
    `${channel}: one sequence over both nodes, without gaps or repeats`,
  );
}

describe('channel_occupied / channel_vacated over two nodes on Redis, and node_lost', () => {
  let redis: PrivateRedis;
  let receiver: HookReceiver;
  const nodes: RunningPushwire[] = [];
  const sessions: WsSession[] = [];

  const startNode = async () => {
    const node = await startPushwire({
      args: [
        '--broker',
        'redis',
        '--redis-url',
        redis.url,
        '--hook-url',
        `${receiver.url}/events`,
        '--hook-secret',
        SECRET,
        '--node-lease',
        `${LEASE_MS}ms`,
        '--shutdown-timeout',
        '2s',
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
  const has = (type: string, match: (e: ReceivedEvent) => boolean) => (events: readonly ReceivedEvent[]) =>
    events.some((e) => e.type === type && match(e));

  before(async () => {
    redis = await startPrivateRedis();
    receiver = await startHookReceiver(SECRET);
  });
  after(async () => {
    for (const session of sessions) session.close();
    await Promise.all(nodes.map((node) => node.stop('SIGKILL')));
    await receiver.close();
    await redis.stop();
  });

  test('subscribers on two nodes: one occupied with the first, one vacated after the last', async () => {
    const a = await startNode();
    const b = await startNode();
    const onA = await connect(a);
    const onB = await connect(b);
    await onA.session.request({ op: 'subscribe', channel: 'room' });
    await onB.session.request({ op: 'subscribe', channel: 'room' });
    await receiver.until(
      (events) => [onA.id, onB.id].every((id) => has('subscribe', (e) => e.clientId === id)(events)),
      PATIENCE_MS,
      'both subscribes',
    );
    assert.deepEqual(channelStory(receiver.events, 'room'), [
      'channel_occupied',
      `subscribe ${onA.id}`,
      `subscribe ${onB.id}`,
    ]);

    await onA.session.request({ op: 'unsubscribe', channel: 'room' });
    await receiver.until(
      has('unsubscribe', (e) => e.clientId === onA.id),
      PATIENCE_MS,
      "A's unsubscribe",
    );
    await onB.session.request({ op: 'unsubscribe', channel: 'room' });
    onA.session.close();
    onB.session.close();
    // A node tells a client's channel events before its disconnect: after both, all are in.
    await receiver.until(
      (events) => [onA.id, onB.id].every((id) => has('disconnect', (e) => e.clientId === id)(events)),
      PATIENCE_MS,
      'both disconnects',
    );
    assert.deepEqual(
      channelStory(receiver.events, 'room'),
      [
        'channel_occupied',
        `subscribe ${onA.id}`,
        `subscribe ${onB.id}`,
        `unsubscribe ${onA.id}`,
        `unsubscribe ${onB.id}`,
        'channel_vacated',
      ],
      'no vacated while B still held the channel',
    );
    assertOneSequence(receiver.events, 'room');
    const vacated = channelEvents(receiver.events, 'room').at(-1)!;
    assert.equal(vacated.node, nodeOfClient(receiver.events, onB.id), 'told by the node of the last one');
    assert.notEqual(nodeOfClient(receiver.events, onA.id), vacated.node, 'the clients are on two nodes');
    assert.equal(vacated.id, `channel_vacated:room:${vacated.channelSeq}`);
    assert.equal(new Set(receiver.events.map((e) => e.id)).size, receiver.events.length, 'each event once');
    assert.ok(
      receiver.calls.every((call) => call.signed),
      'signed',
    );
  });

  test('a node killed with clients: node_lost for each, vacated only where it alone held the channel', async () => {
    const [, survivor] = nodes;
    const doomed = await startNode();
    const first = await connect(doomed);
    const second = await connect(doomed);
    const stays = await connect(survivor!);
    await first.session.request({ op: 'subscribe', channel: 'alone' });
    await first.session.request({ op: 'subscribe', channel: 'shared' });
    await second.session.request({ op: 'subscribe', channel: 'shared' });
    await stays.session.request({ op: 'subscribe', channel: 'shared' });
    await receiver.until(
      (events) =>
        events.filter((e) => e.type === 'subscribe' && (e.channel === 'shared' || e.channel === 'alone'))
          .length === 4,
      PATIENCE_MS,
      'the four subscribes',
    );

    assert.equal(await doomed.stop('SIGKILL'), null);
    const doomedNode = nodeOfClient(receiver.events, first.id);
    await receiver.until(
      (events) =>
        [first.id, second.id].every((id) =>
          has('disconnect', (e) => e.clientId === id && e.reason === 'node_lost')(events),
        ) && has('channel_vacated', (e) => e.channel === 'alone')(events),
      LOST_WITHIN_MS,
      "the lost node's disconnects and the vacated channel it held alone",
    );
    for (const client of [first, second]) {
      const [disconnect, ...more] = receiver.events.filter(
        (e) => e.type === 'disconnect' && e.clientId === client.id,
      );
      assert.equal(more.length, 0, 'one disconnect per client');
      assert.equal(disconnect!.reason, 'node_lost');
      assert.equal(disconnect!.node, doomedNode, 'named by the node it was on');
      assert.equal(disconnect!.id, `lost:${doomedNode}:${client.id}`);
    }
    assert.deepEqual(channelStory(receiver.events, 'alone'), [
      'channel_occupied',
      `subscribe ${first.id}`,
      'channel_vacated',
    ]);
    assertOneSequence(receiver.events, 'alone');

    // `shared` keeps a subscriber on the survivor: vacated only after that one leaves.
    await stays.session.request({ op: 'unsubscribe', channel: 'shared' });
    await receiver.until(
      has('channel_vacated', (e) => e.channel === 'shared'),
      PATIENCE_MS,
      'shared vacated',
    );
    assert.deepEqual(channelStory(receiver.events, 'shared'), [
      'channel_occupied',
      `subscribe ${first.id}`,
      `subscribe ${second.id}`,
      `subscribe ${stays.id}`,
      `unsubscribe ${stays.id}`,
      'channel_vacated',
    ]);
    assertOneSequence(receiver.events, 'shared');
    assert.equal(new Set(receiver.events.map((e) => e.id)).size, receiver.events.length, 'each event once');
  });
});
