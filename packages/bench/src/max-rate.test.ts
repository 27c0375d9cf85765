import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FanoutResult } from './fanout.ts';
import { searchMaxRate } from './max-rate.ts';

/** A fan-out result that holds unless `change` says otherwise. */
function result(change: Partial<FanoutResult>): FanoutResult {
  const latency = { count: 1, p50Ms: 1, p90Ms: 2, p99Ms: 3, maxMs: 4 };
  return {
    subscribers: 10,
    connectFailed: 0,
    channels: 1,
    rate: 100,
    inFlight: 64,
    durationMs: 1000,
    published: 100,
    publishFailed: 0,
    publishesPerSec: 100,
    cpuPerPublishUs: 1,
    expected: 1000,
    delivered: 1000,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    disconnected: 0,
    deliveriesPerSec: 1000,
    latency,
    publishRoundTrip: latency,
    publishLagMs: 0,
    serverCpuMs: 1,
    flood: null,
    cpuPerDeliveryUs: 1,
    generatorCpuPercent: 1,
    rssIdleKb: 1,
    rssConnectedKb: 2,
    memoryPerConnectionKb: 0.1,
    closeReasons: {},
    storm: null,
    ...change,
  };
}

test('doubles the rate until a step loses a message, then bisects below it', async () => {
  const rates: number[] = [];
  const found = await searchMaxRate(10, 100, async (rate) => {
    rates.push(rate);
    return result({ deliveriesPerSec: rate * 10, lost: rate >= 650 ? 1 : 0 });
  });
  // 400 holds and 800 does not: 600 holds, 700 does not.
  assert.deepEqual(rates, [100, 200, 400, 800, 600, 700]);
  assert.equal(found.lastGoodRate, 600);
  assert.equal(found.deliveriesPerSec, 6000);
  assert.match(found.stoppedBy, /^at 700 msg\/s: lost 1/);
});

test('the bisection goes up from a step that held and down from one that did not', async () => {
  const rates: number[] = [];
  const found = await searchMaxRate(10, 100, async (rate) => {
    rates.push(rate);
    return result({ lost: rate > 750 ? 1 : 0 });
  });
  assert.deepEqual(rates, [100, 200, 400, 800, 600, 700]);
  assert.equal(found.lastGoodRate, 700);
  assert.match(found.stoppedBy, /^at 800 msg\/s/);
});

test('a p99 over a second, a late publisher or a failed run each end the search', async () => {
  const slow = await searchMaxRate(10, 100, async () =>
    result({ latency: { count: 1, p50Ms: 1, p90Ms: 2, p99Ms: 1500, maxMs: 2000 } }),
  );
  assert.equal(slow.lastGoodRate, 0);
  assert.match(slow.stoppedBy, /p99 1500 ms/);
  const late = await searchMaxRate(10, 100, async (rate) => result({ publishLagMs: rate > 100 ? 5000 : 0 }));
  assert.equal(late.lastGoodRate, 100);
  const broken = await searchMaxRate(10, 100, async () => {
    throw new Error('target did not start');
  });
  assert.match(broken.stoppedBy, /error: target did not start/);
  assert.equal(broken.steps.length, 1);
});

test('a step that misses on latency alone is run again and holds when most of its runs hold', async () => {
  const p99 = (ms: number) => result({ latency: { count: 1, p50Ms: 1, p90Ms: 2, p99Ms: ms, maxMs: ms } });
  // 200 msg/s: slow once, then fine twice (holds); 400: slow, fine, slow (does not).
  // The bisection: 300 holds, 350 is slow twice (a third run could not make a majority).
  const script: Record<number, number[]> = {
    100: [3],
    200: [1500, 3, 3],
    400: [1500, 3, 1500],
    300: [3],
    350: [1500, 1500],
  };
  const rates: number[] = [];
  const found = await searchMaxRate(10, 100, async (rate) => {
    rates.push(rate);
    return p99(script[rate]!.shift()!);
  });
  assert.deepEqual(rates, [100, 200, 200, 200, 400, 400, 400, 300, 350, 350]);
  assert.equal(found.lastGoodRate, 300);
  assert.equal(found.stoppedBy, 'at 350 msg/s: p99 1500 ms > 1000 ms (held in 0 of 2 runs)');
  assert.equal(found.steps.length, 10);

  const lossy = await searchMaxRate(10, 100, async () => result({ lost: 1 }));
  assert.equal(lossy.steps.length, 1, 'a loss is never run again');
});
