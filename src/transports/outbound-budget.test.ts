import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectionWriter, type PushFormat, type WriteTarget } from './connection-writer.ts';
import { type BudgetMember, OutboundBudget } from './outbound-budget.ts';
import { newTransportCounters, type TransportContext } from './types.ts';

/** A socket whose peer never reads: everything written stays queued. */
function stalledTarget(): WriteTarget & { writableLength: number } {
  return {
    writableLength: 0,
    write(chunk) {
      this.writableLength += chunk.length;
    },
    cork() {},
    uncork() {},
  };
}

const FORMAT: PushFormat = {
  transport: 'sse',
  preamble: '',
  ping: 'ping\n',
  connected: () => 'connected\n',
  message: (message) => `${String(message)}\n`,
  batch: () => Buffer.alloc(0),
  gap: () => 'gap\n',
  reconnect: () => 'reconnect\n',
  error: () => 'error\n',
};

function contextOf(maxBufferedBytes: number, outbound: OutboundBudget | null): TransportContext {
  return {
    hub: { nodeId: 'node-1' } as never,
    heartbeat: null,
    maxBufferedBytes,
    maxFrameBytes: 1024,
    pollTimeoutMs: 1000,
    pollLingerMs: 0,
    maxCommandsPerSecond: null,
    counters: newTransportCounters(),
    outbound,
    report: () => {},
  };
}

const session = { id: 'c1', cursor: () => '1' } as never;

test('a slow consumer is cut before its queue passes the limit, not after', () => {
  const target = stalledTarget();
  const failures: string[] = [];
  const writer = new ConnectionWriter(target, FORMAT, contextOf(1000, null), {
    writerFailed: (code) => failures.push(code),
  });
  writer.start(session);
  const chunk = 'x'.repeat(299);
  for (let i = 0; i < 10; i++) writer.raw(chunk);
  assert.deepEqual(failures, ['slow_consumer'], 'cut once');
  assert.ok(target.writableLength <= 1000, `${target.writableLength} bytes queued`);
});

test('one chunk larger than the limit still goes out on an empty queue', () => {
  const target = stalledTarget();
  const failures: string[] = [];
  const writer = new ConnectionWriter(target, FORMAT, contextOf(100, null), {
    writerFailed: (code) => failures.push(code),
  });
  writer.start(session);
  target.writableLength = 0; // the peer read `connected`
  writer.raw('y'.repeat(500));
  assert.equal(target.writableLength, 500);
  assert.deepEqual(failures, []);
});

function member(queued: number): BudgetMember & { wasCut: boolean; bytes: number } {
  return {
    queuedKnown: 0,
    wasCut: false,
    bytes: queued,
    queued() {
      return this.bytes;
    },
    cut() {
      this.wasCut = true;
    },
  };
}

test('past the total budget the connections with the most queued are cut first, until it fits', () => {
  let now = 0;
  const budget = new OutboundBudget(1000, () => now);
  const small = member(100);
  const large = member(600);
  const medium = member(400);
  for (const m of [small, large, medium]) budget.add(m);
  budget.wrote(small, 100);
  budget.wrote(large, 600);
  assert.equal(large.wasCut, false, 'within the budget');
  now += 100;
  budget.wrote(medium, 400);
  assert.equal(large.wasCut, true, 'the slowest goes first');
  assert.equal(medium.wasCut, false, 'and only as many as needed');
  assert.equal(small.wasCut, false);
  assert.equal(budget.queuedBytes, 500);
});

test('an estimate over the budget is recounted: drained bytes cut nobody', () => {
  let now = 0;
  const budget = new OutboundBudget(1000, () => now);
  const a = member(900);
  const b = member(900);
  budget.add(a);
  budget.add(b);
  budget.wrote(a, 900);
  a.bytes = 0; // the peer read it all meanwhile
  now += 100;
  budget.wrote(b, 900);
  assert.equal(a.wasCut || b.wasCut, false);
  assert.equal(budget.queuedBytes, 900);
});
