import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Publication, StreamPosition } from '../protocol/index.ts';
import { Channel, type ChannelHost, type ChannelMember } from './channel.ts';
import { LatencyHistogram } from './latency.ts';
import type { OutboundBatch } from './outbound.ts';
import type { ChannelOptions, ChannelWatcher } from './types.ts';

const OPTIONS: ChannelOptions = {
  historySize: 10,
  historyTtlMs: null,
  clientPublish: false,
  presence: false,
};
const EPOCH = 'E1';

const publication = (offset: number, epoch = EPOCH, time = 0): Publication => ({
  channel: 'c',
  offset,
  epoch,
  data: String(offset),
  time,
});

/** A host whose history holds `stored`, and which records what the channel asks of it. */
function host(stored: Publication[] = []) {
  const queued: Channel[] = [];
  const reports: string[] = [];
  const reads: StreamPosition[] = [];
  const value: ChannelHost = {
    // As the brokers read: a position of another epoch says nothing of this one's messages.
    readHistory: async (_channel, since) => {
      reads.push(since);
      return stored.filter((p) => p.epoch !== since.epoch || p.offset > since.offset);
    },
    queued: (channel) => queued.push(channel),
    report: (stage) => reports.push(stage),
    latency: new LatencyHistogram(),
  };
  return { value, queued, reports, reads };
}

function member(id: string, fail = false): ChannelMember & { batches: number[][]; closed: boolean } {
  return {
    id,
    userId: null,
    connectedAt: 0,
    batches: [],
    closed: false,
    receive(batch: OutboundBatch) {
      if (fail) throw new Error('broken');
      this.batches.push(batch.messages.map((m) => m.offset));
    },
    close() {
      this.closed = true;
    },
  };
}

function channelWith(n: number, options = OPTIONS, stored?: Publication[]) {
  const h = host(stored);
  const channel = new Channel('c', options, h.value);
  for (let offset = 1; offset <= n; offset++) channel.accept(publication(offset, EPOCH, offset * 1000));
  channel.flush();
  return { channel, host: h };
}

test('messages accepted in a turn go out as one batch to every member', () => {
  const { channel, host: h } = channelWith(0);
  const a = member('a');
  const b = member('b');
  channel.members.add(a);
  channel.members.add(b);
  channel.accept(publication(1));
  channel.accept(publication(2));
  assert.equal(h.queued.length, 1, 'queued once per turn');
  assert.equal(channel.flush(), 4);
  assert.deepEqual(a.batches, [[1, 2]]);
  assert.deepEqual(b.batches, [[1, 2]]);
  assert.equal(channel.flush(), 0, 'nothing left');
});

test('a member that throws is closed; the others still get the batch', () => {
  const { channel, host: h } = channelWith(0);
  const broken = member('x', true);
  const good = member('y');
  channel.members.add(broken);
  channel.members.add(good);
  channel.accept(publication(1));
  channel.flush();
  assert.equal(broken.closed, true);
  assert.deepEqual(good.batches, [[1]]);
  assert.deepEqual(h.reports, ['deliver']);
});

test('a publication seen already is dropped; one past a hole waits until history fills it', async () => {
  const stored = [1, 2, 3, 4, 5].map((offset) => publication(offset));
  const { channel, host: h } = channelWith(2, OPTIONS, stored);
  const m = member('m');
  channel.members.add(m);
  channel.accept(publication(2));
  channel.accept(publication(5)); // 3 and 4 were lost on the way
  channel.accept(publication(6)); // held back while history is read
  assert.deepEqual(h.reads, [{ epoch: EPOCH, offset: 2 }]);
  await new Promise((resolve) => setImmediate(resolve));
  channel.flush();
  assert.deepEqual(m.batches, [[3, 4, 5, 6]]);
});

test('after a broker outage the channel reads what it missed', async () => {
  const stored = [1, 2, 3].map((offset) => publication(offset));
  const { channel, host: h } = channelWith(1, OPTIONS, stored);
  const m = member('m');
  channel.members.add(m);
  channel.recover();
  await new Promise((resolve) => setImmediate(resolve));
  channel.flush();
  assert.deepEqual(h.reads, [{ epoch: EPOCH, offset: 1 }]);
  assert.deepEqual(m.batches, [[2, 3]]);
});

test('a new epoch first seen past its start is filled from history, after the gap', async () => {
  // The broker lost its data; 1 and 2 of the new epoch were published before this node
  // followed the channel again, and its first publication of that epoch is 3.
  const stored = [1, 2, 3].map((offset) => publication(offset, 'E2'));
  const { channel, host: h } = channelWith(2, OPTIONS, stored);
  const m = member('m');
  channel.members.add(m);
  channel.accept(publication(3, 'E2'));
  channel.accept(publication(4, 'E2')); // held back while history is read
  assert.deepEqual(h.reads, [{ epoch: EPOCH, offset: 2 }]);
  await new Promise((resolve) => setImmediate(resolve));
  channel.flush();
  assert.deepEqual(m.batches, [[1, 2, 3, 4]]);
  assert.deepEqual(
    channel.after({ epoch: 'E2', offset: 0 }, 0)?.map((message) => message.offset),
    [1, 2, 3, 4],
  );
});

test('after: what follows a position, from memory, or null when memory cannot tell', () => {
  const { channel } = channelWith(5);
  const now = 10_000;
  assert.deepEqual(
    channel.after({ epoch: EPOCH, offset: 2 }, now)?.map((m) => m.offset),
    [3, 4, 5],
  );
  assert.deepEqual(channel.after({ epoch: EPOCH, offset: 5 }, now), [], 'at the latest position');
  assert.equal(channel.after({ epoch: EPOCH, offset: 6 }, now), null, 'ahead');
  assert.equal(channel.after({ epoch: 'other', offset: 5 }, now), null, 'another epoch');
  const fresh = new Channel('c', OPTIONS, host().value);
  assert.equal(fresh.after({ epoch: EPOCH, offset: 0 }, now), null, 'position not known yet');
});

test('after: never further back than history (count and age) nor the recent window', () => {
  const { channel } = channelWith(30);
  assert.equal(channel.after({ epoch: EPOCH, offset: 20 }, 0)?.length, 10);
  assert.equal(channel.after({ epoch: EPOCH, offset: 19 }, 0), null, 'history (10) no longer has 20');

  const long = channelWith(1002, { ...OPTIONS, historySize: 5000 }).channel;
  assert.equal(long.after({ epoch: EPOCH, offset: 2 }, 0)?.length, 1000);
  assert.equal(long.after({ epoch: EPOCH, offset: 1 }, 0), null, 'past the 1,000 recent messages');

  const brief = channelWith(2, { ...OPTIONS, historyTtlMs: 500 }).channel;
  // Message 1 was published at t = 1,000 ms.
  assert.equal(brief.after({ epoch: EPOCH, offset: 0 }, 1400)?.length, 2);
  assert.equal(brief.after({ epoch: EPOCH, offset: 0 }, 1600), null, 'expired from history');
});

test('after: past the history count, as far back as historyMinAgeMs keeps', () => {
  const { channel } = channelWith(30, { ...OPTIONS, historyMinAgeMs: 500 });
  // Message n was published at t = n * 1,000 ms: at 1,600 ms message 1 is 600 ms old.
  assert.equal(channel.after({ epoch: EPOCH, offset: 0 }, 1300)?.length, 30, 'all younger than 500 ms');
  assert.equal(
    channel.after({ epoch: EPOCH, offset: 0 }, 1600),
    null,
    'message 1 is older, beyond the count',
  );
  assert.equal(channel.after({ epoch: EPOCH, offset: 20 }, 10_000_000)?.length, 10, 'within the count');

  // Past the 1,000 recent messages kept by count, the young ones stay in memory too.
  const busy = channelWith(1500, { ...OPTIONS, historySize: 100, historyMinAgeMs: 10_000_000 }).channel;
  assert.equal(busy.after({ epoch: EPOCH, offset: 0 }, 1_600_000)?.length, 1500);
  const aged = channelWith(1500, { ...OPTIONS, historySize: 100, historyMinAgeMs: 1000 }).channel;
  assert.equal(aged.after({ epoch: EPOCH, offset: 500 }, 0)?.length, 1000);
  assert.equal(aged.after({ epoch: EPOCH, offset: 499 }, 0), null, 'the old ones past 1,000 left memory');
});

test('after: readers at the same position share one list; the next message starts it over', () => {
  const { channel } = channelWith(5);
  const first = channel.after({ epoch: EPOCH, offset: 2 }, 0);
  assert.equal(channel.after({ epoch: EPOCH, offset: 2 }, 0), first, 'the same list, not a copy');
  channel.accept(publication(6, EPOCH, 6000));
  channel.flush();
  assert.deepEqual(
    channel.after({ epoch: EPOCH, offset: 2 }, 0)?.map((m) => m.offset),
    [3, 4, 5, 6],
  );
  assert.deepEqual(
    first?.map((m) => m.offset),
    [3, 4, 5],
    'a list handed out never changes',
  );
  const beyond = channelWith(1002, { ...OPTIONS, historySize: 5000 }).channel;
  for (let i = 0; i < 2; i++) {
    assert.equal(beyond.after({ epoch: EPOCH, offset: 1 }, 0), null, 'past the recent messages, every time');
  }
});

function watcher(keepFor = 0) {
  const seen: number[][] = [];
  let skips = keepFor;
  const value: ChannelWatcher & { seen: number[][] } = {
    seen,
    next(batch) {
      if (skips-- > 0) return null;
      seen.push(batch.messages.map((m) => m.offset));
      return batch.messages.length;
    },
    end() {},
  };
  return value;
}

test('watchers at the latest position get the next batch once; one that keeps waiting stays', () => {
  const { channel } = channelWith(2);
  const once = watcher();
  const patient = watcher(1);
  assert.equal(channel.watch(once, { epoch: EPOCH, offset: 2 }), true);
  assert.equal(channel.watch(patient, { epoch: EPOCH, offset: 2 }), true);
  assert.equal(channel.watch(watcher(), { epoch: EPOCH, offset: 1 }), false, 'only at the latest position');
  channel.accept(publication(3));
  assert.equal(channel.flush(), 1);
  assert.equal(channel.watcherCount, 1, 'the patient one waits on');
  channel.accept(publication(4));
  channel.flush();
  assert.deepEqual(once.seen, [[3]]);
  assert.deepEqual(patient.seen, [[4]]);
  assert.equal(channel.idle, true);
});
