import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker } from '../brokers/memory.ts';
import type { BrokerHandler, HistoryQuery, HistoryResult } from '../brokers/types.ts';
import type { GapEvent, Publication } from '../protocol/index.ts';
import { PushwireError } from '../protocol/index.ts';
import { Hub } from './hub.ts';
import type { OutboundBatch, OutboundMessage } from './outbound.ts';
import {
  ANONYMOUS,
  type ChannelOptions,
  type CloseRequest,
  type Identity,
  type PollWaiter,
  type SessionSink,
} from './types.ts';

const OPTIONS: ChannelOptions = {
  historySize: 10,
  historyTtlMs: null,
  clientPublish: false,
  presence: false,
};
/** Channels named `kind:…` have these options instead. */
const CHANNEL_KINDS: Record<string, ChannelOptions | undefined> = {
  presence: { ...OPTIONS, presence: true },
  long: { ...OPTIONS, historySize: 5000 },
  brief: { ...OPTIONS, historyTtlMs: 50 },
};

/** A memory broker whose deliveries and history reads a test can hold back or drop. */
class ScriptedBroker extends MemoryBroker {
  dropNext = 0;
  historyGate: Promise<void> | null = null;
  private forward: BrokerHandler | null = null;

  override start(handler: BrokerHandler): Promise<void> {
    this.forward = handler;
    return super.start({
      publication: (publication) => {
        if (this.dropNext > 0) {
          this.dropNext -= 1;
          return;
        }
        handler.publication(publication);
      },
      recovered: () => handler.recovered(),
    });
  }

  override async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const result = await super.history(channel, query);
    await this.historyGate;
    return result;
  }

  announceRecovered(): void {
    this.forward?.recovered();
  }
}

type Seen =
  | { kind: 'message'; offset: number; epoch: string; cursor: string; message: OutboundMessage }
  | ({ kind: 'gap' } & GapEvent)
  | { kind: 'close'; request: CloseRequest };

function recorder(): SessionSink & { seen: Seen[]; offsets(): number[] } {
  const seen: Seen[] = [];
  return {
    seen,
    offsets: () => seen.flatMap((s) => (s.kind === 'message' ? [s.offset] : [])),
    message: (message, cursor) =>
      seen.push({ kind: 'message', offset: message.offset, epoch: message.epoch, cursor, message }),
    batch: (batch) => {
      for (const message of batch.messages) {
        seen.push({
          kind: 'message',
          offset: message.offset,
          epoch: message.epoch,
          cursor: message.soloCursor(),
          message,
        });
      }
    },
    gap: (event) => seen.push({ kind: 'gap', ...event }),
    close: (request) => seen.push({ kind: 'close', request }),
  };
}

async function hubWith(broker = new ScriptedBroker(), pollLingerMs?: number) {
  const reports: string[] = [];
  const hub = new Hub({
    broker,
    channelOptions: (channel) => CHANNEL_KINDS[channel.split(':')[0]!] ?? OPTIONS,
    maxChannelsPerSession: 4,
    report: (stage) => reports.push(stage),
    ...(pollLingerMs === undefined ? {} : { pollLingerMs }),
  });
  await hub.start();
  return { hub, broker, reports };
}

/**
 * The hub fans out at the end of the event-loop turn, or after a rest half as long as a slow
 * fan-out before it took (a few ms at most here, on a machine that stalled).
 */
const turn = () => new Promise((resolve) => setImmediate(() => setTimeout(resolve, 10)));

const publishN = async (hub: Hub, channel: string, n: number) => {
  const out: Publication[] = [];
  for (let i = 0; i < n; i++) out.push(await hub.publish(channel, JSON.stringify(i)));
  await turn();
  return out;
};

test('one OutboundMessage per publication reaches every session', async () => {
  const { hub } = await hubWith();
  const a = recorder();
  const b = recorder();
  await hub
    .openSession({ transport: 'websocket', identity: ANONYMOUS, sink: a })
    .subscribe([{ channel: 'c' }]);
  await hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: b }).subscribe([{ channel: 'c' }]);
  await publishN(hub, 'c', 3);
  assert.deepEqual(a.offsets(), [1, 2, 3]);
  assert.deepEqual(b.offsets(), [1, 2, 3]);
  for (let i = 0; i < 3; i++) {
    const [x, y] = [a.seen[i], b.seen[i]];
    assert.ok(x?.kind === 'message' && y?.kind === 'message' && x.message === y.message);
    assert.equal(x.cursor, x.message.soloCursor());
  }
  assert.equal(hub.stats.delivered, 6);
  await hub.close();
});

test('resume replays what is after the cursor, and live messages published meanwhile once', async () => {
  const { hub, broker } = await hubWith();
  const [first] = await publishN(hub, 'c', 4);
  let release: () => void = () => {};
  broker.historyGate = new Promise((resolve) => {
    release = resolve;
  });
  const sink = recorder();
  const session = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink });
  const subscribing = session.subscribe([{ channel: 'c', since: { epoch: first!.epoch, offset: 2 } }]);
  // Published while history is being read: the history result already holds 3..4, live brings 5..6.
  await turn();
  await turn();
  await publishN(hub, 'c', 2);
  release();
  await subscribing;
  assert.deepEqual(sink.offsets(), [3, 4, 5, 6]);
  await hub.close();
});

test('a cursor older than the window gets a window gap first; another epoch an epoch gap', async () => {
  const { hub } = await hubWith();
  const published = await publishN(hub, 'c', 15);
  const epoch = published[0]!.epoch;
  const window = recorder();
  await hub
    .openSession({ transport: 'sse', identity: ANONYMOUS, sink: window })
    .subscribe([{ channel: 'c', since: { epoch, offset: 1 } }]);
  const [gap, ...rest] = window.seen;
  assert.ok(gap?.kind === 'gap');
  assert.equal(gap.reason, 'window');
  assert.equal(gap.lastOffset, 1);
  assert.equal(gap.nextOffset, 6);
  assert.deepEqual(
    rest.map((s) => s.kind === 'message' && s.offset),
    [6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  );

  const other = recorder();
  await hub
    .openSession({ transport: 'sse', identity: ANONYMOUS, sink: other })
    .subscribe([{ channel: 'c', since: { epoch: 'old', offset: 3 } }]);
  assert.ok(
    other.seen[0]?.kind === 'gap' && other.seen[0].reason === 'epoch' && other.seen[0].epoch === epoch,
  );
  assert.equal(other.offsets().length, 10);

  const ahead = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() });
  await assert.rejects(
    ahead.subscribe([{ channel: 'c', since: { epoch, offset: 99 } }]),
    (e: unknown) => e instanceof PushwireError && e.code === 'invalid_cursor',
  );
  assert.equal(ahead.isSubscribed('c'), false, 'a failed subscribe leaves nothing behind');
  await hub.close();
});

test('a publication lost on the way from the broker is read back from history', async () => {
  const { hub, broker } = await hubWith();
  const sink = recorder();
  await hub.openSession({ transport: 'websocket', identity: ANONYMOUS, sink }).subscribe([{ channel: 'c' }]);
  await publishN(hub, 'c', 2);
  broker.dropNext = 2;
  await publishN(hub, 'c', 3);
  await turn();
  await turn();
  assert.deepEqual(sink.offsets(), [1, 2, 3, 4, 5]);
  assert.ok(
    sink.seen.every((s) => s.kind === 'message'),
    'no gap: history filled the hole',
  );
  assert.equal(hub.stats.gapsRecovered, 1);

  broker.dropNext = 1;
  await publishN(hub, 'c', 1);
  broker.announceRecovered();
  await turn();
  await turn();
  assert.deepEqual(sink.offsets(), [1, 2, 3, 4, 5, 6]);
  await hub.close();
});

test('a sink that throws loses its own session only', async () => {
  const { hub, reports } = await hubWith();
  const good = recorder();
  const broken: SessionSink = {
    message: () => {
      throw new Error('boom');
    },
    batch: () => {
      throw new Error('boom');
    },
    gap: () => {},
    close: () => {},
  };
  const bad = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: broken });
  await bad.subscribe([{ channel: 'c' }]);
  await hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: good }).subscribe([{ channel: 'c' }]);
  await publishN(hub, 'c', 2);
  assert.deepEqual(good.offsets(), [1, 2]);
  assert.equal(bad.closed, true);
  assert.deepEqual(reports, ['deliver']);
  await hub.close();
});

test('a broker failure reaches the publisher as broker_unavailable', async () => {
  const broker = new ScriptedBroker();
  broker.publish = async () => {
    throw new Error('connection refused');
  };
  const { hub } = await hubWith(broker);
  await assert.rejects(
    hub.publish('c', '1'),
    (e: unknown) => e instanceof PushwireError && e.code === 'broker_unavailable',
  );
  await hub.close();
});

test('drain ends every session with a reconnect hint and refuses new ones', async () => {
  const { hub } = await hubWith();
  const sinks = [recorder(), recorder(), recorder()];
  for (const sink of sinks)
    await hub.openSession({ transport: 'stream', identity: ANONYMOUS, sink }).subscribe([{ channel: 'c' }]);
  await hub.drain({ code: 'shutting_down', reason: 'shutdown' }, 1000);
  for (const sink of sinks) {
    const last = sink.seen.at(-1);
    assert.ok(last?.kind === 'close' && last.request.code === 'shutting_down');
    assert.ok(last.request.reconnectDelayMs >= 0 && last.request.reconnectDelayMs <= 1000);
  }
  assert.equal(hub.sessionCount, 0);
  assert.throws(
    () => hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() }),
    (e: unknown) => e instanceof PushwireError && e.code === 'shutting_down',
  );
  await hub.close();
});

test('the broker subscription lives exactly as long as a local session is on the channel', async () => {
  const { hub } = await hubWith();
  const a = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() });
  const b = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() });
  await a.subscribe([{ channel: 'c' }, { channel: 'd' }]);
  await b.subscribe([{ channel: 'c' }]);
  assert.equal(hub.channelCount, 2);
  a.close();
  assert.equal(hub.channelCount, 1);
  b.unsubscribe('c');
  assert.equal(hub.channelCount, 0);
  await hub.close();
});

/** A long poll waiting in the hub: records how it was answered. */
function waiter(epoch: string, offset: number) {
  const seen: { offsets: number[]; batch: OutboundBatch | null }[] = [];
  const ended: (CloseRequest | null)[] = [];
  const poll: PollWaiter & { seen: typeof seen; ended: typeof ended } = {
    epoch,
    offset,
    seen,
    ended,
    answer: (messages, batch) => seen.push({ offsets: messages.map((m) => m.offset), batch }),
    end: (request) => ended.push(request),
  };
  return poll;
}

/** The hub knows a channel's position once a session has seen a publication on it. */
async function polledChannel(hub: Hub, channel: string, n: number) {
  const session = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() });
  await session.subscribe([{ channel }]);
  const published = await publishN(hub, channel, n);
  return { session, epoch: published[0]!.epoch };
}

test('long polls: tail answers from memory what follows a cursor, or null when memory cannot tell', async () => {
  const { hub } = await hubWith();
  assert.equal(hub.tail(ANONYMOUS, 'c', { epoch: 'e', offset: 0 }), null, 'the node is not on the channel');
  const { epoch } = await polledChannel(hub, 'c', 5);
  assert.deepEqual(
    hub.tail(ANONYMOUS, 'c', { epoch, offset: 2 })?.map((m) => m.offset),
    [3, 4, 5],
  );
  assert.deepEqual(hub.tail(ANONYMOUS, 'c', { epoch, offset: 5 }), []);
  assert.equal(hub.tail(ANONYMOUS, 'c', { epoch, offset: 6 }), null, 'ahead: a session says invalid_cursor');
  assert.equal(
    hub.tail(ANONYMOUS, 'c', { epoch: 'other', offset: 5 }),
    null,
    'epoch: a session reports the gap',
  );
  const nobody: Identity = { ...ANONYMOUS, canSubscribe: () => false };
  assert.equal(hub.tail(nobody, 'c', { epoch, offset: 5 }), null, 'forbidden: a session says so');
  await polledChannel(hub, 'presence:p', 1);
  const presence = hub.tail(ANONYMOUS, 'presence:p', { epoch, offset: 1 });
  assert.equal(presence, null, 'presence needs a session');
  await hub.close();
});

test('long polls: memory answers no further back than history, nor than 1,000 messages', async () => {
  const { hub } = await hubWith();
  const { epoch } = await polledChannel(hub, 'c', 30);
  assert.equal(hub.tail(ANONYMOUS, 'c', { epoch, offset: 20 })?.length, 10);
  assert.equal(hub.tail(ANONYMOUS, 'c', { epoch, offset: 19 }), null, 'history (10) no longer has 20');

  const long = await polledChannel(hub, 'long:c', 1002);
  assert.equal(hub.tail(ANONYMOUS, 'long:c', { epoch: long.epoch, offset: 2 })?.length, 1000);
  assert.equal(hub.tail(ANONYMOUS, 'long:c', { epoch: long.epoch, offset: 1 }), null);

  const brief = await polledChannel(hub, 'brief:c', 2);
  assert.equal(hub.tail(ANONYMOUS, 'brief:c', { epoch: brief.epoch, offset: 0 })?.length, 2);
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(
    hub.tail(ANONYMOUS, 'brief:c', { epoch: brief.epoch, offset: 0 }),
    null,
    'expired from history',
  );
  await hub.close();
});

test('long polls waiting at the position all get the next batch, and one body can serve them', async () => {
  const { hub } = await hubWith();
  const { session, epoch } = await polledChannel(hub, 'c', 2);
  const polls = [waiter(epoch, 2), waiter(epoch, 2), waiter(epoch, 2)];
  for (const poll of polls) assert.equal(hub.wait('c', poll), true);
  assert.equal(hub.wait('c', waiter(epoch, 1)), false, 'only polls at the position wait');
  assert.equal(hub.sessionsByTransport().get('longpoll'), 3);
  const delivered = hub.stats.delivered;
  await Promise.all([hub.publish('c', '"a"'), hub.publish('c', '"b"')]);
  await turn();
  for (const poll of polls)
    assert.deepEqual(
      poll.seen.map((s) => s.offsets),
      [[3, 4]],
    );
  assert.ok(polls[0]!.seen[0]!.batch && polls.every((p) => p.seen[0]!.batch === polls[0]!.seen[0]!.batch));
  assert.equal(hub.stats.delivered - delivered, 3 * 2 + 2);
  assert.equal(hub.sessionsByTransport().get('longpoll'), undefined);
  session.close();
  await hub.close();
});

test('a poll that came in after part of a batch gets only what follows it', async () => {
  const { hub } = await hubWith();
  const { epoch } = await polledChannel(hub, 'c', 1);
  // Published in this turn: the hub knows offset 2 before fanning it out.
  await hub.publish('c', '"x"');
  const late = waiter(epoch, 2);
  assert.equal(hub.wait('c', late), true);
  await turn();
  assert.equal(late.seen.length, 0, 'nothing after 2 yet: still waiting');
  await publishN(hub, 'c', 1);
  assert.deepEqual(
    late.seen.map((s) => s.offsets),
    [[3]],
  );
  await hub.close();
});

test('a waiting poll stops waiting on unwait; drain ends waiting polls with a reconnect hint', async () => {
  const { hub } = await hubWith();
  const { epoch } = await polledChannel(hub, 'c', 1);
  const gone = waiter(epoch, 1);
  const held = waiter(epoch, 1);
  hub.wait('c', gone);
  hub.wait('c', held);
  hub.unwait('c', gone);
  await hub.drain({ code: 'shutting_down', reason: 'shutdown' }, 500);
  assert.deepEqual(gone.ended, []);
  assert.equal(held.ended.length, 1);
  assert.equal(held.ended[0]?.code, 'shutting_down');
  assert.equal(hub.sessionsByTransport().get('longpoll'), undefined);
  await hub.close();
});

test('a channel long polls come back to lingers after its last poll, then is left', async () => {
  const { hub } = await hubWith(undefined, 200);
  const { session, epoch } = await polledChannel(hub, 'c', 1);
  const poll = waiter(epoch, 1);
  hub.wait('c', poll);
  session.close();
  await publishN(hub, 'c', 1);
  assert.deepEqual(
    poll.seen.map((s) => s.offsets),
    [[2]],
  );
  assert.equal(hub.channelCount, 1, 'nobody is on it, but the next poll is on its way');
  await publishN(hub, 'c', 1);
  assert.deepEqual(
    hub.tail(ANONYMOUS, 'c', { epoch, offset: 2 })?.map((m) => m.offset),
    [3],
  );
  await new Promise((resolve) => setTimeout(resolve, 450));
  assert.equal(hub.channelCount, 0);
  await hub.close();
});

test('a lingering channel whose polls are always answered from memory is not left under them', async () => {
  const { hub } = await hubWith(undefined, 200);
  const { session, epoch } = await polledChannel(hub, 'c', 1);
  const poll = waiter(epoch, 1);
  hub.wait('c', poll);
  session.close();
  await publishN(hub, 'c', 1); // answers the waiting poll: nobody is on the channel now
  // Pollers that come back behind every time, for twice the linger time: none ever waits.
  let offset = 2;
  for (let round = 0; round < 8; round++) {
    await publishN(hub, 'c', 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const tail = hub.tail(ANONYMOUS, 'c', { epoch, offset });
    assert.deepEqual(
      tail?.map((m) => m.offset),
      [offset + 1],
      `round ${round}`,
    );
    offset += 1;
  }
  assert.equal(hub.channelCount, 1);
  await new Promise((resolve) => setTimeout(resolve, 450));
  assert.equal(hub.channelCount, 0, 'left once the polls stopped');
  await hub.close();
});

test('a slow fan-out is followed by a rest, and the next batch holds what came meanwhile', async () => {
  const { hub } = await hubWith();
  const SLOW_MS = 40;
  const deliveredAt: number[][] = [];
  const slow = recorder();
  const sink: SessionSink = {
    ...slow,
    batch: (batch) => {
      deliveredAt.push(batch.messages.map((m) => m.offset));
      const until = performance.now() + SLOW_MS;
      while (performance.now() < until) {} // a fan-out to many connections, in one session
      slow.batch(batch);
    },
  };
  await hub.openSession({ transport: 'websocket', identity: ANONYMOUS, sink }).subscribe([{ channel: 'c' }]);
  await hub.publish('c', '1');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(deliveredAt, [[1]], 'the first fan-out goes out at the end of its turn');

  // Published right after the slow fan-out: the loop turns over several times (a new
  // connection would be accepted in each) before the next fan-out, which takes both.
  await hub.publish('c', '2');
  await hub.publish('c', '3');
  let turnsBefore = 0;
  const deadline = performance.now() + 2000;
  while (deliveredAt.length === 1 && performance.now() < deadline) {
    await new Promise((resolve) => setImmediate(resolve));
    turnsBefore += 1;
  }
  assert.deepEqual(deliveredAt, [[1], [2, 3]]);
  assert.ok(turnsBefore > 1, `the second fan-out came ${turnsBefore} turn(s) after the first`);
  assert.deepEqual(slow.offsets(), [1, 2, 3]);
  await hub.close();
});
