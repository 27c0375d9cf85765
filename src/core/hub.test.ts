import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker } from '../brokers/memory.ts';
import type { BrokerHandler, HistoryQuery, HistoryResult } from '../brokers/types.ts';
import type { GapEvent, Publication } from '../protocol/index.ts';
import { PushwireError } from '../protocol/index.ts';
import type { Scheduler } from './fan-out.ts';
import { Hub } from './hub.ts';
import type { OutboundMessage } from './outbound.ts';
import {
  ANONYMOUS,
  type ChannelOptions,
  type ChannelWatcher,
  type CloseRequest,
  type CommandResult,
  type Identity,
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
    dropped: () => {},
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

/**
 * The fan-out's end-of-turn tasks, run when a test says so: what reaches the sinks is decided
 * by the test, not by how busy the machine is.
 */
function manualScheduler() {
  const tasks: (() => void)[] = [];
  const scheduler: Scheduler = {
    now: () => 0,
    soon: (task) => tasks.push(task),
    later: (task) => tasks.push(task),
    afterCurrent: (task) => task(),
  };
  const run = () => {
    for (const task of tasks.splice(0)) task();
  };
  return { scheduler, run };
}

async function hubWith(broker = new ScriptedBroker()) {
  const reports: string[] = [];
  const fanOut = manualScheduler();
  const hub = new Hub({
    broker,
    channelOptions: (channel) => CHANNEL_KINDS[channel.split(':')[0]!] ?? OPTIONS,
    maxChannelsPerSession: 4,
    report: (stage) => reports.push(stage),
    scheduler: fanOut.scheduler,
  });
  await hub.start();
  /** Lets pending broker answers settle, then fans out what the hub accepted. */
  const turn = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    fanOut.run();
  };
  return { hub, broker, reports, turn };
}

const publishN = async (t: { hub: Hub; turn: () => Promise<void> }, channel: string, n: number) => {
  const out: Publication[] = [];
  for (let i = 0; i < n; i++) out.push(await t.hub.publish(channel, JSON.stringify(i)));
  await t.turn();
  return out;
};

test('one OutboundMessage per publication reaches every session', async () => {
  const t = await hubWith();
  const { hub } = t;
  const a = recorder();
  const b = recorder();
  await hub
    .openSession({ transport: 'websocket', identity: ANONYMOUS, sink: a })
    .subscribe([{ channel: 'c' }]);
  await hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: b }).subscribe([{ channel: 'c' }]);
  await publishN(t, 'c', 3);
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
  const t = await hubWith();
  const { hub, broker } = t;
  const [first] = await publishN(t, 'c', 4);
  let release: () => void = () => {};
  broker.historyGate = new Promise((resolve) => {
    release = resolve;
  });
  const sink = recorder();
  const session = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink });
  const subscribing = session.subscribe([{ channel: 'c', since: { epoch: first!.epoch, offset: 2 } }]);
  // Published while history is being read: the history result already holds 3..4, live brings 5..6.
  await t.turn();
  await t.turn();
  await publishN(t, 'c', 2);
  release();
  await subscribing;
  assert.deepEqual(sink.offsets(), [3, 4, 5, 6]);
  await hub.close();
});

test('a cursor older than the window gets a window gap first; another epoch an epoch gap', async () => {
  const t = await hubWith();
  const { hub } = t;
  const published = await publishN(t, 'c', 15);
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
  const t = await hubWith();
  const { hub, broker } = t;
  const sink = recorder();
  await hub.openSession({ transport: 'websocket', identity: ANONYMOUS, sink }).subscribe([{ channel: 'c' }]);
  await publishN(t, 'c', 2);
  broker.dropNext = 2;
  await publishN(t, 'c', 3);
  await t.turn();
  await t.turn();
  assert.deepEqual(sink.offsets(), [1, 2, 3, 4, 5]);
  assert.ok(
    sink.seen.every((s) => s.kind === 'message'),
    'no gap: history filled the hole',
  );
  assert.equal(hub.stats.gapsRecovered, 1);

  broker.dropNext = 1;
  await publishN(t, 'c', 1);
  broker.announceRecovered();
  await t.turn();
  await t.turn();
  assert.deepEqual(sink.offsets(), [1, 2, 3, 4, 5, 6]);
  await hub.close();
});

test('a sink that throws loses its own session only', async () => {
  const t = await hubWith();
  const { hub, reports } = t;
  const good = recorder();
  const broken: SessionSink = {
    dropped: () => {},
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
  await publishN(t, 'c', 2);
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
  const t = await hubWith();
  const { hub } = t;
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
  const t = await hubWith();
  const { hub } = t;
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

test('a subscribe with nothing to wait for is done at once; one that must wait is left untouched', async () => {
  const t = await hubWith();
  const { hub } = t;
  const first = recorder();
  await hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: first }).subscribe([{ channel: 'c' }]);
  await publishN(t, 'c', 2);

  const now = recorder();
  const session = hub.openSession({ transport: 'websocket', identity: ANONYMOUS, sink: now });
  let started: string | null = null;
  const starts = session.subscribeNow({ channel: 'c' }, (_, cursor) => {
    started = cursor;
  });
  assert.equal(starts?.length, 1);
  assert.equal(starts[0]!.position.offset, 2);
  assert.equal(started, starts[0]!.cursor, 'onStart ran before subscribeNow returned');
  await publishN(t, 'c', 1);
  assert.deepEqual(now.offsets(), [3], 'live from where it joined, no replay');
  assert.deepEqual(first.offsets(), [1, 2, 3]);

  // A cursor needs a history read; a channel the node doesn't follow needs the broker, and
  // one whose broker subscription is still on its way has no known position yet. Each is
  // left for subscribe.
  const other = hub.openSession({ transport: 'websocket', identity: ANONYMOUS, sink: recorder() });
  assert.equal(
    other.subscribeNow({ channel: 'c', since: { epoch: starts[0]!.position.epoch, offset: 1 } }),
    null,
  );
  assert.equal(other.subscribeNow({ channel: 'never-followed' }), null);
  const pending = hub
    .openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() })
    .subscribe([{ channel: 'p' }]);
  assert.equal(other.subscribeNow({ channel: 'p' }), null);
  assert.equal(other.channelCount, 0, 'nothing was done for the ones left');
  await pending;

  // Refusals are at once too: a thrown PushwireError, nothing kept.
  const reader = hub.openSession({
    transport: 'websocket',
    identity: { userId: 'u', subscribe: ['open'], publish: [] },
    sink: recorder(),
  });
  assert.throws(
    () => reader.subscribeNow({ channel: 'c' }),
    (e: unknown) => e instanceof PushwireError && e.code === 'forbidden',
  );
  assert.equal(reader.channelCount, 0);
  assert.throws(
    () => session.subscribeNow({ channel: 'c' }),
    (e: unknown) => e instanceof PushwireError && e.code === 'already_subscribed',
  );
  await hub.close();
});

/** A reader without a session, watching a channel: records what it was handed. */
function watcher() {
  const seen: number[][] = [];
  const ended: (CloseRequest | null)[] = [];
  const value: ChannelWatcher & { seen: number[][]; ended: (CloseRequest | null)[] } = {
    seen,
    ended,
    next(batch) {
      seen.push(batch.messages.map((m) => m.offset));
      return batch.messages.length;
    },
    end: (request) => ended.push(request),
  };
  return value;
}

/** The hub follows a channel once a session is on it and has seen a publication. */
async function followed(t: Awaited<ReturnType<typeof hubWith>>, channel: string, n: number) {
  const session = t.hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() });
  await session.subscribe([{ channel }]);
  const published = await publishN(t, channel, n);
  return { session, epoch: published[0]!.epoch };
}

test('read answers from memory for readers allowed to read, or null for a session to decide', async () => {
  const t = await hubWith();
  const { hub } = t;
  assert.equal(hub.read(ANONYMOUS, 'c', { epoch: 'e', offset: 0 }), null, 'the node does not follow c');
  const { epoch } = await followed(t, 'c', 5);
  assert.deepEqual(
    hub.read(ANONYMOUS, 'c', { epoch, offset: 2 })?.map((m) => m.offset),
    [3, 4, 5],
  );
  const nobody: Identity = { ...ANONYMOUS, subscribe: [] };
  assert.equal(hub.read(nobody, 'c', { epoch, offset: 5 }), null, 'forbidden: a session says so');
  await followed(t, 'presence:p', 1);
  assert.equal(hub.read(ANONYMOUS, 'presence:p', { epoch, offset: 1 }), null, 'presence needs a session');
  await hub.close();
});

test('watchers get the next batch; drain ends the others with a reconnect hint', async () => {
  const t = await hubWith();
  const { hub } = t;
  const { session, epoch } = await followed(t, 'c', 2);
  const a = watcher();
  const b = watcher();
  const gone = watcher();
  for (const w of [a, b, gone]) assert.equal(hub.watch('c', { epoch, offset: 2 }, w), true);
  assert.equal(hub.watch('c', { epoch, offset: 1 }, watcher()), false, 'only at the latest position');
  hub.unwatch('c', gone);
  const delivered = hub.stats.delivered;
  await Promise.all([hub.publish('c', '"a"'), hub.publish('c', '"b"')]);
  await t.turn();
  assert.deepEqual(a.seen, [[3, 4]]);
  assert.deepEqual(b.seen, [[3, 4]]);
  assert.deepEqual(gone.seen, []);
  assert.equal(hub.stats.delivered - delivered, 2 * 2 + 2, 'the session and both watchers');

  const waiting = watcher();
  hub.watch('c', { epoch, offset: 4 }, waiting);
  session.close();
  await hub.drain({ code: 'shutting_down', reason: 'shutdown' }, 500);
  assert.equal(waiting.ended[0]?.code, 'shutting_down');
  assert.deepEqual(gone.ended, []);
  assert.equal(hub.channelCount, 0, 'nobody needs the channel any more');
  await hub.close();
});

test('no watcher is taken once the hub drains, even on a channel still held', async () => {
  const t = await hubWith();
  const { hub } = t;
  const { session, epoch } = await followed(t, 'c', 1);
  const hold = hub.hold('c');
  session.close();
  assert.equal(hub.watch('c', { epoch, offset: 1 }, watcher()), true);
  await hub.drain({ code: 'shutting_down', reason: 'shutdown' }, 500);
  assert.equal(hub.channelCount, 1, 'the hold keeps c followed');
  assert.equal(hub.watch('c', { epoch, offset: 1 }, watcher()), false);
  hold.release();
  await hub.close();
});

test('a hold keeps a channel followed, with its position, until released', async () => {
  const t = await hubWith();
  const { hub } = t;
  const { session, epoch } = await followed(t, 'c', 1);
  const hold = hub.hold('c');
  session.close();
  assert.equal(hub.channelCount, 1, 'held: nobody is on it, but the next poll is on its way');
  await hub.publish('c', '"x"');
  await t.turn();
  assert.deepEqual(
    hub.read(ANONYMOUS, 'c', { epoch, offset: 1 })?.map((m) => m.offset),
    [2],
  );
  hold.release();
  hold.release();
  assert.equal(hub.channelCount, 0);
  await hub.close();
});

test('rights are checked for every command, and each refusal says what would allow it', async () => {
  const t = await hubWith();
  const { hub } = t;
  const reader: Identity = {
    userId: 'u',
    subscribe: ['open', 'open:**'],
    publish: [],
  };
  const session = hub.openSession({ transport: 'websocket', identity: reader, sink: recorder() });
  const results: CommandResult[] = [];
  // Some commands are refused at once (a throw), others after waiting (a rejection): both count.
  const run = async (command: Parameters<typeof session.execute>[0]) =>
    session.execute(command, (result) => results.push(result));
  const refused = (code: string, pattern: RegExp) => (e: unknown) =>
    e instanceof PushwireError && e.code === code && pattern.test(e.message);

  await assert.rejects(run({ op: 'subscribe', channel: 'secret' }), refused('forbidden', /read "secret"/));
  await assert.rejects(run({ op: 'history', channel: 'secret' }), refused('forbidden', /read "secret"/));
  await assert.rejects(run({ op: 'presence', channel: 'secret' }), refused('forbidden', /read "secret"/));
  await assert.rejects(
    run({ op: 'publish', channel: 'open', data: '1' }),
    refused('forbidden', /clientPublish.*"publish" claim/),
  );
  await assert.rejects(
    run({ op: 'presence', channel: 'open' }),
    refused('invalid_request', /presence is off on "open"/),
  );
  await assert.rejects(hub.positions(reader, ['open', 'secret']), refused('forbidden', /read "secret"/));

  await hub.publish('open', '{"n":1}');
  await run({ op: 'history', channel: 'open', limit: 5 });
  await run({ op: 'subscribe', channel: 'open' });
  assert.deepEqual(
    results.map((r) => r.op),
    ['history', 'subscribe'],
  );
  const history = results[0]!;
  assert.ok(history.op === 'history' && history.publications[0]?.data === '{"n":1}');
  await hub.close();
});

const user = (userId: string): Identity => ({ ...ANONYMOUS, userId });

test('subscriber counts are reported as they change, 0 once a channel is left', async () => {
  const { hub } = await hubWith();
  hub.takeCounts();
  const a = hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() });
  const b = hub.openSession({ transport: 'websocket', identity: ANONYMOUS, sink: recorder() });
  await a.subscribe([{ channel: 'x' }, { channel: 'y' }]);
  await b.subscribe([{ channel: 'x' }]);
  assert.deepEqual(
    hub.takeCounts(),
    new Map([
      ['x', 2],
      ['y', 1],
    ]),
  );
  assert.deepEqual(hub.takeCounts(), new Map(), 'nothing changed since');
  a.close();
  assert.deepEqual(
    hub.takeCounts(),
    new Map([
      ['x', 1],
      ['y', 0],
    ]),
  );
  assert.deepEqual(hub.takeCounts(true), new Map([['x', 1]]), 'all of them on demand');
  assert.equal(hub.subscriberCount('x'), 1);
});

test('disconnect ends the sessions of a user or a client with the request, and counts them', async () => {
  const { hub } = await hubWith();
  const request: CloseRequest = { code: 'disconnected', reason: 'bye', reconnectDelayMs: 0 };
  const sinks = [recorder(), recorder(), recorder()];
  const [alice1, alice2, bob] = [
    hub.openSession({ transport: 'sse', identity: user('alice'), sink: sinks[0]! }),
    hub.openSession({ transport: 'websocket', identity: user('alice'), sink: sinks[1]! }),
    hub.openSession({ transport: 'stream', identity: user('bob'), sink: sinks[2]! }),
  ];
  await alice1!.subscribe([{ channel: 'c' }]);
  await bob!.subscribe([{ channel: 'c' }]);
  assert.deepEqual(
    hub.sessionsMatching({ channel: 'c' }).map((s) => s.userId),
    ['alice', 'bob'],
  );
  assert.equal(hub.disconnect({ userId: 'alice' }, request), 2);
  assert.deepEqual(sinks[0]!.seen, [{ kind: 'close', request }]);
  assert.equal(alice1!.closed && alice2!.closed, true);
  assert.equal(bob!.closed, false);
  assert.equal(hub.disconnect({ clientId: bob!.id }, request), 1);
  assert.equal(hub.disconnect({ clientId: 'nobody' }, request), 0);
  assert.equal(hub.stats.ended.disconnected, 3);
});

test("the server's own channels are left out of the published and delivered counts", async () => {
  const t = await hubWith();
  const session = t.hub.openSession({
    transport: 'sse',
    identity: { ...ANONYMOUS, system: true },
    sink: recorder(),
  });
  await session.subscribe([{ channel: '$admin:stats' }]);
  await publishN(t, '$admin:stats', 2);
  assert.equal(t.hub.stats.published, 0);
  assert.equal(t.hub.stats.delivered, 0);
  const outsider = t.hub.openSession({ transport: 'sse', identity: ANONYMOUS, sink: recorder() });
  await assert.rejects(
    async () => outsider.execute({ op: 'subscribe', channel: '$admin:stats' }, () => {}),
    (error: unknown) => error instanceof PushwireError && error.code === 'forbidden',
  );
});
