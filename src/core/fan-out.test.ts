import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FanOut, type Scheduler } from './fan-out.ts';

/** A scheduler a test turns by hand, on a clock it moves itself. */
function manualScheduler() {
  let now = 0;
  const soon: (() => void)[] = [];
  const later: { at: number; task: () => void }[] = [];
  const scheduler: Scheduler = {
    now: () => now,
    soon: (task) => soon.push(task),
    later: (task, ms) => later.push({ at: now + ms, task }),
    afterCurrent: (task) => queueMicrotask(task),
  };
  return {
    scheduler,
    advance(ms: number) {
      now += ms;
    },
    /** Runs the end-of-turn tasks, and the timers due by now. */
    async turn() {
      for (const task of soon.splice(0)) task();
      for (const timer of later.filter((t) => t.at <= now)) {
        later.splice(later.indexOf(timer), 1);
        timer.task();
      }
      await Promise.resolve();
    },
    pendingTimers: () => later.map((t) => t.at - now),
  };
}

/** A channel whose fan-out takes `costMs` on the manual clock (with members, unless said). */
function channel(clock: { advance(ms: number): void }, costMs: number, hasMembers = true) {
  let outbox = 0;
  const flushes: number[] = [];
  return {
    flushes,
    hasMembers,
    add(n: number) {
      outbox += n;
    },
    flush() {
      flushes.push(outbox);
      const delivered = outbox;
      outbox = 0;
      clock.advance(costMs);
      return delivered;
    },
  };
}

test('channels queued in a turn fan out together at its end, once each', async () => {
  const clock = manualScheduler();
  const flushed: number[] = [];
  const fanOut = new FanOut((_c, delivered) => flushed.push(delivered), clock.scheduler);
  const a = channel(clock, 0);
  const b = channel(clock, 0);
  a.add(2);
  fanOut.queue(a);
  fanOut.queue(a);
  b.add(1);
  fanOut.queue(b);
  assert.deepEqual(flushed, [], 'nothing before the end of the turn');
  await clock.turn();
  assert.deepEqual(flushed, [2, 1]);
});

test('a slow fan-out is followed by a rest half as long; what comes meanwhile goes out together', async () => {
  const clock = manualScheduler();
  const fanOut = new FanOut(() => {}, clock.scheduler);
  const slow = channel(clock, 40);
  slow.add(1);
  fanOut.queue(slow);
  await clock.turn();
  assert.deepEqual(slow.flushes, [1]);

  slow.add(1);
  fanOut.queue(slow);
  slow.add(1);
  fanOut.queue(slow);
  assert.deepEqual(clock.pendingTimers(), [20], 'rest: half of the 40 ms the fan-out took');
  await clock.turn();
  assert.deepEqual(slow.flushes, [1], 'not during the rest');
  clock.advance(20);
  await clock.turn();
  assert.deepEqual(slow.flushes, [1, 2], 'both messages of the rest in one fan-out');
});

test('a quick fan-out needs no rest', async () => {
  const clock = manualScheduler();
  const fanOut = new FanOut(() => {}, clock.scheduler);
  const quick = channel(clock, 1);
  for (let i = 0; i < 3; i++) {
    quick.add(1);
    fanOut.queue(quick);
    await clock.turn();
  }
  assert.deepEqual(quick.flushes, [1, 1, 1]);
  assert.deepEqual(clock.pendingTimers(), []);
});

test('a slow fan-out to waiting polls alone rests only while connections arrive', async () => {
  const clock = manualScheduler();
  let arriving = false;
  const fanOut = new FanOut(
    () => {},
    clock.scheduler,
    () => arriving,
  );
  const polled = channel(clock, 40, false);
  polled.add(1);
  fanOut.queue(polled);
  await clock.turn();
  polled.add(1);
  fanOut.queue(polled);
  assert.deepEqual(clock.pendingTimers(), [], 'no rest: the next fan-out at the end of the turn');
  await clock.turn();
  assert.deepEqual(polled.flushes, [1, 1]);

  arriving = true;
  polled.add(1);
  fanOut.queue(polled);
  await clock.turn();
  polled.add(1);
  fanOut.queue(polled);
  assert.deepEqual(clock.pendingTimers(), [20], 'connections arrive: rested after');
  await clock.turn();
  assert.deepEqual(polled.flushes, [1, 1, 1], 'not during the rest');
});

test('a slow fan-out to members rests with no connection arriving: their next write carries more', async () => {
  const clock = manualScheduler();
  const fanOut = new FanOut(
    () => {},
    clock.scheduler,
    () => false,
  );
  const streamed = channel(clock, 40);
  streamed.add(1);
  fanOut.queue(streamed);
  await clock.turn();
  streamed.add(1);
  fanOut.queue(streamed);
  assert.deepEqual(clock.pendingTimers(), [20]);
});
