import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type ClientEvent,
  openRawClient,
  type RawClient,
  TRANSPORTS,
  type TransportKind,
  takeMessages,
} from '../helpers/clients.ts';
import { cleanPrefix, redisUrl, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

type Message = Extract<ClientEvent, { type: 'message' }>;

const TOTAL = 5_000;
/** The publisher's pace: 5,000 messages take about 4 s, so node B dies well inside the run. */
const PER_SECOND = 1_250;
const IN_FLIGHT = 8;
const PUBLISH_BOUND_MS = 60_000;
const KILL_AFTER = 2_000;

describe('redis: three nodes share channels', () => {
  const prefix = uniquePrefix();
  let a: RunningPushwire;
  let b: RunningPushwire;
  let c: RunningPushwire;
  const open: RawClient[] = [];
  const client = (
    kind: TransportKind,
    node: RunningPushwire,
    channel: string,
    cursor: string | null = null,
  ) => {
    const opened = openRawClient(kind, node.url, { channels: [channel], cursor });
    open.push(opened);
    return opened;
  };

  before(async () => {
    // History holds the whole run, so a client resuming anywhere finds every message it missed.
    const args = [
      '--broker',
      'redis',
      '--redis-url',
      redisUrl(),
      '--redis-prefix',
      prefix,
      '--history-size',
      '10000',
    ];
    [a, b, c] = await Promise.all([
      startPushwire({ args }),
      startPushwire({ args }),
      startPushwire({ args }),
    ]);
  });
  after(async () => {
    for (const opened of open) opened.close();
    await Promise.all([a, b, c].map((node) => node?.stop()));
    await cleanPrefix(prefix);
  });

  test('a publish on A reaches subscribers on B and C over every transport, in order, with the same offsets and epochs', async () => {
    const channel = 'fanout';
    const clients = [b, c].flatMap((node) => TRANSPORTS.map((kind) => client(kind, node, channel)));
    await Promise.all(clients.map((opened) => opened.ready));

    const published: { offset: number; epoch: string }[] = [];
    for (let i = 0; i < 50; i++) published.push(await a.publish(channel, { i }));
    assert.deepEqual(
      published.map((p) => p.offset),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.equal(new Set(published.map((p) => p.epoch)).size, 1, 'one epoch');

    for (const opened of clients) {
      const got = await takeMessages(opened, 50);
      const where = `${opened.kind} on ${clients.indexOf(opened) < TRANSPORTS.length ? 'B' : 'C'}`;
      assert.deepEqual(
        got.map((m) => ({ offset: m.offset, epoch: m.epoch })),
        published.map(({ offset, epoch }) => ({ offset, epoch })),
        where,
      );
      assert.deepEqual(
        got.map((m) => m.data),
        Array.from({ length: 50 }, (_, i) => ({ i })),
        where,
      );
    }
  });

  test(`SIGKILL of node B amid ${TOTAL} messages: its clients resume on C, none lost or duplicated`, async (t) => {
    const channel = 'failover';
    const onB = TRANSPORTS.map((kind) => client(kind, b, channel));
    const onC = TRANSPORTS.map((kind) => client(kind, c, channel));
    await Promise.all([...onB, ...onC].map((opened) => opened.ready));

    const byOffset = new Map<number, number>();
    let lastOffset: number | null = null;
    let killed: Promise<unknown> | null = null;
    const startedAt = performance.now();
    const publishing = publishPaced(a, channel, (n, offset) => {
      byOffset.set(offset, n);
      if (byOffset.size === KILL_AFTER) killed = b.stop('SIGKILL');
    }).then(() => {
      lastOffset = Math.max(...byOffset.keys());
      t.diagnostic(`published ${byOffset.size} in ${Math.round(performance.now() - startedAt)} ms`);
    });

    const until = () => lastOffset;
    const [collected] = await Promise.all([
      Promise.all([
        ...onB.map((first) => collect(first, until, (cursor) => client(first.kind, c, channel, cursor))),
        ...onC.map((first) => collect(first, until, null)),
      ]),
      publishing,
    ]);
    await killed;
    assert.ok(killed, 'node B was killed');
    assert.equal(byOffset.size, TOTAL, 'every publish on A succeeded');

    for (const [i, { messages, reconnects }] of collected.entries()) {
      const fromB = i < TRANSPORTS.length;
      const kind = TRANSPORTS[i % TRANSPORTS.length]!;
      const where = `${kind} ${fromB ? 'from B, resumed on C' : 'on C'}`;
      const count = tally(messages, byOffset);
      t.diagnostic(
        `${where}: ${count.received} received, ${count.lost} lost, ${count.duplicated} duplicated`,
      );
      assert.deepEqual(
        count,
        { received: TOTAL, lost: 0, duplicated: 0, outOfOrder: 0, wrongData: 0 },
        where,
      );
      assert.equal(reconnects, fromB ? 1 : 0, `${where}: reconnects`);
    }
  });
});

/**
 * Publishes TOTAL messages on `node`, IN_FLIGHT at a time, paced at PER_SECOND; every publish
 * must succeed. Bounded in count and in time.
 */
async function publishPaced(
  node: RunningPushwire,
  channel: string,
  published: (n: number, offset: number) => void,
): Promise<void> {
  const startedAt = performance.now();
  // Four seconds at the pace; the bound is for a machine shared with other work, where three
  // Node processes, Redis and this test contend for the cores.
  const deadline = Date.now() + PUBLISH_BOUND_MS;
  let next = 0;
  const worker = async () => {
    while (next < TOTAL) {
      if (Date.now() > deadline)
        throw new Error(`publishing took over ${PUBLISH_BOUND_MS / 1000} s (${next} of ${TOTAL})`);
      const n = next++;
      const due = startedAt + (n * 1000) / PER_SECOND;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const { offset } = await node.publish(channel, { n });
      published(n, offset);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

/**
 * Every message a client gets until it has the last one published. When its connection drops,
 * `reopen` (if given) connects again with the last cursor it had; a gap fails the test.
 */
async function collect(
  first: RawClient,
  lastOffset: () => number | null,
  reopen: ((cursor: string | null) => RawClient) | null,
): Promise<{ messages: Message[]; reconnects: number }> {
  const messages: Message[] = [];
  let current = first;
  let reconnects = 0;
  let highest = 0;
  const deadline = Date.now() + 40_000;
  for (;;) {
    const last = lastOffset();
    if (last !== null && highest >= last) return { messages, reconnects };
    // Short waits: whether the last message has come is re-checked once publishing is done.
    const event = await current.events.next(200, 'a message').catch(() => null);
    if (Date.now() > deadline) throw new Error(`${first.kind}: ${messages.length} messages after 40 s`);
    if (event === null || event.type === 'ping' || event.type === 'connected') continue;
    if (event.type === 'message') {
      messages.push(event);
      highest = Math.max(highest, event.offset);
    } else if (event.type === 'closed' && reopen) {
      reconnects += 1;
      if (reconnects > 3) throw new Error(`${first.kind}: reconnected more than 3 times`);
      current = reopen(current.cursor());
    } else throw new Error(`${first.kind}: unexpected ${JSON.stringify(event)}`);
  }
}

function tally(messages: readonly Message[], byOffset: ReadonlyMap<number, number>) {
  const seen = new Set<number>();
  let duplicated = 0;
  let outOfOrder = 0;
  let wrongData = 0;
  let previous = 0;
  for (const m of messages) {
    if (seen.has(m.offset)) duplicated += 1;
    seen.add(m.offset);
    if (m.offset <= previous) outOfOrder += 1;
    previous = Math.max(previous, m.offset);
    if ((m.data as { n: number }).n !== byOffset.get(m.offset)) wrongData += 1;
  }
  return { received: messages.length, lost: byOffset.size - seen.size, duplicated, outOfOrder, wrongData };
}
