import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalCluster } from '../brokers/local-cluster.ts';
import { MemoryBroker } from '../brokers/memory.ts';
import { PushwireError } from '../protocol/index.ts';
import type { AccessHook } from './access.ts';
import { Hub } from './hub.ts';
import type { LifecycleEvent } from './lifecycle.ts';
import type { ChannelTurn, NodeLoss, Occupancy, OccupancyEvents } from './occupancy.ts';
import {
  ANONYMOUS,
  type ChannelOptions,
  type CloseRequest,
  type Identity,
  type SessionSink,
} from './types.ts';

const OPTIONS: ChannelOptions = { historySize: 10, historyTtlMs: null, clientPublish: true, presence: false };

function sink(): SessionSink & { closed: CloseRequest[] } {
  const closed: CloseRequest[] = [];
  return {
    closed,
    message() {},
    batch() {},
    gap() {},
    dropped() {},
    close: (request) => closed.push(request),
  };
}

/**
 * Occupancy over the cluster view of one node, as the server makes it (ClusterOccupancy): the
 * hub's count of a channel, set in the cluster at each turn. `events` is what it was told to
 * report to; `crossed` reports a crossing of the cluster's own finding.
 */
class OneNodeOccupancy implements Occupancy {
  readonly cluster = new LocalCluster();
  events: OccupancyEvents | null = null;
  hub: Hub | null = null;

  constructor(readonly clusterWide = true) {}

  async clientOpened(): Promise<void> {}
  async clientClosed(): Promise<void> {}
  join(channel: string): Promise<ChannelTurn> {
    return this.cluster.turn(channel, this.hub!.subscriberCount(channel));
  }
  leave(channel: string): Promise<ChannelTurn> {
    return this.cluster.turn(channel, this.hub!.subscriberCount(channel));
  }
  watch(events: OccupancyEvents): void {
    this.events = events;
  }
}

interface Setup {
  occupancy?: Occupancy;
  publishEvents?: boolean;
  accessHook?: AccessHook;
  channelOptions?: (channel: string) => ChannelOptions;
}

async function hubWith(setup: Setup = {}) {
  const events: LifecycleEvent[] = [];
  const occupancy = setup.occupancy ?? new OneNodeOccupancy();
  const hub = new Hub({
    broker: new MemoryBroker(),
    channelOptions: setup.channelOptions ?? (() => OPTIONS),
    maxChannelsPerSession: 10,
    lifecycle: {
      occupancy,
      publishEvents: setup.publishEvents ?? false,
      listener: { wants: (channel) => !channel.startsWith('quiet:'), event: (event) => events.push(event) },
    },
    ...(setup.accessHook && { accessHook: setup.accessHook }),
  });
  if (occupancy instanceof OneNodeOccupancy) occupancy.hub = hub;
  await hub.start();
  const open = (identity: Identity = ANONYMOUS, transient = false) => {
    const s = sink();
    return { sink: s, session: hub.openSession({ transport: 'websocket', identity, sink: s, transient }) };
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { hub, events, open, settle };
}

/** Events as `type channel clientSeq/channelSeq-delta`, the channel numbers relative to the first. */
function brief(events: readonly LifecycleEvent[]): string[] {
  const base = new Map<string, number>();
  return events.map((event) => {
    let channelSeq = '';
    if (event.channel !== null && event.channelSeq !== null) {
      if (!base.has(event.channel)) base.set(event.channel, event.channelSeq);
      channelSeq = ` ch${event.channelSeq - base.get(event.channel)!}`;
    }
    const clientSeq = event.clientSeq === null ? '' : ` c${event.clientSeq}`;
    const reason = event.type === 'disconnect' ? ` ${event.reason}` : '';
    return `${event.type}${event.channel ? ` ${event.channel}` : ''}${clientSeq}${channelSeq}${reason}`;
  });
}

test('a session tells connect, subscribe, unsubscribe and disconnect, numbered per client and per channel', async () => {
  const { hub, events, open, settle } = await hubWith();
  const { session } = open({ ...ANONYMOUS, userId: 'u1' });
  await session.subscribe([{ channel: 'a' }, { channel: 'b' }]);
  const other = open();
  await other.session.subscribe([{ channel: 'a' }]);
  session.unsubscribe('b');
  session.close();
  await settle();
  const mine = events.filter((event) => event.clientId === session.id || event.clientId === null);
  assert.deepEqual(brief(mine), [
    'connect c1',
    'channel_occupied a ch0',
    'subscribe a c2 ch1',
    'channel_occupied b ch0',
    'subscribe b c3 ch1',
    'unsubscribe b c4 ch2',
    'channel_vacated b ch3',
    // The other client still holds `a`: no vacated for it.
    'unsubscribe a c5 ch3',
    'disconnect c6 client_closed',
  ]);
  const first = events[0]!;
  assert.equal(first.type, 'connect');
  assert.equal(first.user, 'u1');
  assert.equal(first.node, hub.nodeId);
  assert.equal(new Set(events.map((event) => event.id)).size, events.length, 'ids are unique');
  await hub.close();
});

test('the disconnect says why the server ended a session', async () => {
  const { hub, events, open, settle } = await hubWith();
  const reasons: Array<[CloseRequest['code'], string]> = [
    ['heartbeat_timeout', 'heartbeat_timeout'],
    ['slow_consumer', 'slow_consumer'],
    ['token_expired', 'token_expired'],
    ['forbidden', 'disconnected'],
  ];
  for (const [code] of reasons) open().session.end({ code, reason: code, reconnectDelayMs: 0 });
  const drained = open();
  await hub.drain({ code: 'shutting_down', reason: 'shutdown' }, 0);
  await settle();
  const disconnects = events.filter((event) => event.type === 'disconnect');
  assert.deepEqual(
    disconnects.map((event) => event.type === 'disconnect' && [event.reason, event.code]),
    [...reasons.map(([code, reason]) => [reason, code]), ['drained', 'shutting_down']],
  );
  assert.equal(drained.sink.closed[0]?.code, 'shutting_down');
  await hub.close();
});

test('a session closed with the hub is server_closed; one-request sessions (long polls) tell nothing', async () => {
  const { hub, events, open, settle } = await hubWith();
  const poll = open(ANONYMOUS, true);
  await poll.session.subscribe([{ channel: 'a' }]);
  poll.session.close();
  open();
  await hub.close();
  await settle();
  assert.deepEqual(brief(events), ['connect c1', 'disconnect c2 server_closed']);
});

test('a disconnect never overtakes the unsubscribe before it while occupancy is slow', async () => {
  const local = new OneNodeOccupancy();
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const slow: Occupancy = {
    clusterWide: true,
    clientOpened: async () => {},
    clientClosed: async () => {},
    // Counted in call order, as on one Redis connection; the answer comes late.
    join: async (channel) => {
      const turn = local.join(channel);
      await gate;
      return await turn;
    },
    leave: (channel) => local.leave(channel),
    watch: () => {},
  };
  const { hub, events, open, settle } = await hubWith({ occupancy: slow });
  local.hub = hub;
  const { session } = open();
  await session.subscribe([{ channel: 'a' }]);
  session.close();
  await settle();
  assert.deepEqual(brief(events), ['connect c1'], 'the rest waits for the subscribe’s number');
  release();
  await settle();
  assert.deepEqual(brief(events), [
    'connect c1',
    'channel_occupied a ch0',
    'subscribe a c2 ch1',
    'unsubscribe a c3 ch2',
    'channel_vacated a ch3',
    'disconnect c4 client_closed',
  ]);
  await hub.close();
});

test('channels the listener does not want tell nothing; a failing occupancy still tells, unnumbered', async () => {
  const failing: Occupancy = {
    clusterWide: true,
    clientOpened: async () => {},
    clientClosed: async () => {},
    join: (): Promise<ChannelTurn> => Promise.reject(new Error('down')),
    leave: (): Promise<ChannelTurn> => Promise.reject(new Error('down')),
    watch: () => {},
  };
  const { hub, events, open, settle } = await hubWith({ occupancy: failing });
  const { session } = open();
  await session.subscribe([{ channel: 'quiet:x' }, { channel: 'a' }]);
  session.close();
  await settle();
  assert.deepEqual(brief(events), [
    'connect c1',
    'subscribe a c2',
    'unsubscribe a c3',
    'disconnect c4 client_closed',
  ]);
  await hub.close();
});

test('without cluster-wide counts there are no occupied/vacated events and no channel numbers', async () => {
  const { hub, events, open, settle } = await hubWith({ occupancy: new OneNodeOccupancy(false) });
  const { session } = open();
  await session.subscribe([{ channel: 'a' }]);
  session.close();
  await settle();
  assert.deepEqual(brief(events), [
    'connect c1',
    'subscribe a c2',
    'unsubscribe a c3',
    'disconnect c4 client_closed',
  ]);
  await hub.close();
});

test('a lost node’s clients disconnect with node_lost, with fixed ids', async () => {
  const occupancy = new OneNodeOccupancy();
  const { hub, events } = await hubWith({ occupancy });
  const loss: NodeLoss = {
    node: 'dead1',
    clients: [
      { clientId: 'dead1-1', user: 'u1' },
      { clientId: 'dead1-2', user: null },
    ],
  };
  occupancy.events?.lost(loss);
  occupancy.events?.lost(loss); // told twice (e.g. a retried claim): the same ids
  occupancy.events?.crossed('a', false, 42);
  const once = events.slice(0, 2);
  assert.deepEqual(
    once.map((event) => [event.id, event.type, event.node, event.clientId, event.channel, event.channelSeq]),
    [
      ['lost:dead1:dead1-1', 'disconnect', 'dead1', 'dead1-1', null, null],
      ['lost:dead1:dead1-2', 'disconnect', 'dead1', 'dead1-2', null, null],
    ],
  );
  assert.equal(once[0]?.type === 'disconnect' && once[0].reason, 'node_lost');
  assert.equal(once[0]?.user, 'u1');
  assert.deepEqual(
    events.slice(2).map((event) => event.id),
    [...once.map((event) => event.id), 'channel_vacated:a:42'],
  );
  await hub.close();
});

test('publish events, when asked for, name the publishing client', async () => {
  const { hub, events, open, settle } = await hubWith({ publishEvents: true });
  const { session } = open({ ...ANONYMOUS, userId: 'u9' });
  await session.execute({ id: 1, op: 'publish', channel: 'a', data: '1' }, () => {});
  await hub.publish('quiet:a', '2');
  await hub.publish('a', '3');
  await settle();
  const publishes = events.filter((event) => event.type === 'publish');
  assert.deepEqual(
    publishes.map(
      (event) => event.type === 'publish' && [event.channel, event.offset, event.clientId, event.user],
    ),
    [
      ['a', 1, session.id, 'u9'],
      ['a', 2, null, null],
    ],
  );
  await hub.close();
});

test('credentials that expire end the session with token_expired', async () => {
  const { hub, events, open, settle } = await hubWith();
  const { sink: seen } = open({ ...ANONYMOUS, expiresAt: Date.now() + 30 });
  // The expiry wheel turns every slot: wait for the end rather than for a fixed time.
  for (let i = 0; i < 100 && seen.closed.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  await settle();
  assert.equal(seen.closed[0]?.code, 'token_expired');
  assert.equal(events.at(-1)?.type === 'disconnect' && events.at(-1)?.type, 'disconnect');
  await hub.close();
});

test('the access hook is asked where the namespace says so: it refuses reads and may replace data', async () => {
  const asked: string[] = [];
  const accessHook: AccessHook = {
    read: async ({ channel, op, clientId }) => {
      asked.push(`${op} ${channel} ${clientId !== null}`);
      if (channel.endsWith('no')) throw new PushwireError('forbidden', 'not your room');
    },
    publish: async ({ data }) => JSON.stringify({ clean: JSON.parse(data) }),
  };
  const hooked = { ...OPTIONS, subscribeHook: true, publishHook: true };
  const { hub, events, open, settle } = await hubWith({
    accessHook,
    channelOptions: (channel) => (channel.startsWith('app:') ? hooked : OPTIONS),
  });
  const { session } = open();
  await session.subscribe([{ channel: 'app:yes' }, { channel: 'free' }]);
  await assert.rejects(session.subscribe([{ channel: 'app:no' }]), /not your room/);
  assert.equal(session.isSubscribed('app:no'), false);
  await session.execute({ id: 1, op: 'publish', channel: 'app:yes', data: '5' }, () => {});
  await session.execute({ id: 2, op: 'history', channel: 'app:yes' }, () => {});
  const { publications } = await hub.history('app:yes', {});
  assert.deepEqual(
    publications.map((p) => p.data),
    ['{"clean":5}'],
  );
  assert.deepEqual(asked, ['subscribe app:yes true', 'subscribe app:no true', 'history app:yes true']);
  // Reads from memory without a session skip the hook: the hub says it can't answer them.
  assert.equal(hub.read(ANONYMOUS, 'app:yes', { epoch: 'x', offset: 0 }), null);
  await settle();
  assert.equal(
    events.filter((event) => event.channel === 'app:no').length,
    0,
    'a refused subscribe tells nothing',
  );
  await hub.close();
});

test('crossings the cluster finds after the fact are told with its numbers and fixed ids', async () => {
  const occupancy = new OneNodeOccupancy();
  const { hub, events, open, settle } = await hubWith({ occupancy });
  await occupancy.cluster.join(
    { id: hub.nodeId, version: 'test', startedAt: Date.now(), host: 'test' },
    {
      request: async () => null,
      nodeLost: () => {},
      occupancy: ({ channel, occupied, seq }) => occupancy.events?.crossed(channel, occupied, seq),
    },
  );
  const { session } = open();
  await session.subscribe([{ channel: 'a' }]);
  await settle();
  // A periodic report of a channel that no turn counted (e.g. only long polls wait on it).
  await occupancy.cluster.report(
    new Map([
      ['b', 1],
      ['quiet:c', 1],
    ]),
  );
  await occupancy.cluster.report(new Map([['b', 0]]));
  assert.deepEqual(brief(events), [
    'connect c1',
    'channel_occupied a ch0',
    'subscribe a c2 ch1',
    'channel_occupied b ch0',
    'channel_vacated b ch1',
  ]);
  const occupied = events[3]!;
  assert.equal(occupied.id, `channel_occupied:b:${occupied.channelSeq}`);
  await hub.close();
});
