import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { backoffDelay, DEFAULT_BACKOFF, hintedDelay } from './backoff.ts';

const options = fc.record({
  baseDelayMs: fc.integer({ min: 1, max: 10_000 }),
  maxDelayMs: fc.integer({ min: 1, max: 60_000 }),
});
const attempt = fc.integer({ min: 0, max: 10_000 });
const elapsed = fc.integer({ min: 0, max: 3_600_000 });
/** What Math.random returns: [0, 1). */
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

/** Attempts at the times the delays add up to; how long after `outageMs` the first one comes. */
function backAfter(outageMs: number, draws: readonly number[], backoff = DEFAULT_BACKOFF): number {
  let at = 0;
  let n = 0;
  while (at < outageMs) at += backoffDelay(n, at, backoff, () => draws[n++ % draws.length]!);
  return at - outageMs;
}

test('every delay is a whole number of ms between 0 and the cap', () => {
  fc.assert(
    fc.property(attempt, elapsed, options, unit, (n, ms, backoff, r) => {
      const delay = backoffDelay(n, ms, backoff, () => r);
      assert.ok(Number.isInteger(delay) && delay >= 0 && delay <= backoff.maxDelayMs, `${delay}`);
    }),
  );
});

test('the first reconnect goes at once: a spread of at most 250 ms', () => {
  fc.assert(
    fc.property(elapsed, options, unit, (ms, backoff, r) => {
      const delay = backoffDelay(0, ms, backoff, () => r);
      assert.ok(delay < 250 && delay <= backoff.baseDelayMs / 2, `${delay}`);
    }),
  );
  assert.equal(
    backoffDelay(0, 0, DEFAULT_BACKOFF, () => 0),
    0,
  );
});

test('later delays never collapse to ~0 and never pass the larger of base and a quarter of the time away', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000 }), elapsed, options, unit, (n, ms, backoff, r) => {
      const delay = backoffDelay(n, ms, backoff, () => r);
      const ceiling = Math.min(backoff.maxDelayMs, Math.max(backoff.baseDelayMs, ms / 4));
      assert.ok(delay >= Math.floor(Math.min(backoff.baseDelayMs, backoff.maxDelayMs) / 2), `${delay}`);
      assert.ok(delay >= Math.floor(ceiling / 2) && delay <= ceiling, `${delay} outside ${ceiling}`);
    }),
  );
});

test('the longer away, the longer the wait: the floor never falls as time passes', () => {
  fc.assert(
    fc.property(elapsed, fc.integer({ min: 0, max: 60_000 }), options, (ms, more, backoff) => {
      assert.ok(backoffDelay(1, ms + more, backoff, () => 0) >= backoffDelay(1, ms, backoff, () => 0));
    }),
  );
});

test('defaults: at once, then 0.25-0.5 s for the first 2 s away, 0.5-1 s at 4 s, 2.5-5 s from 20 s on', () => {
  const range = (n: number, ms: number) => [
    backoffDelay(n, ms, DEFAULT_BACKOFF, () => 0),
    backoffDelay(n, ms, DEFAULT_BACKOFF, () => 0.9999),
  ];
  assert.deepEqual(range(0, 0), [0, 249]);
  assert.deepEqual(range(1, 100), [250, 499]);
  assert.deepEqual(range(3, 2000), [250, 499]);
  assert.deepEqual(range(6, 4000), [500, 999]);
  assert.deepEqual(range(12, 10_000), [1250, 2499]);
  assert.deepEqual(range(16, 20_000), [2500, 4999]);
  assert.deepEqual(range(1000, 3_600_000), [2500, 4999]);
});

test('a client is back within max(base, a quarter of the outage), capped, of the end of any outage', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 600_000 }),
      fc.array(unit, { minLength: 200, maxLength: 200 }),
      (outageMs, draws) => {
        const late = backAfter(outageMs, draws);
        const bound = Math.min(
          DEFAULT_BACKOFF.maxDelayMs,
          Math.max(DEFAULT_BACKOFF.baseDelayMs, outageMs / 4),
        );
        assert.ok(late <= bound, `back ${late} ms after a ${outageMs} ms outage`);
      },
    ),
  );
});

test('after a drop of about 2 s (the mobile profile) a client is back within 0.65 s', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1500, max: 2500 }),
      fc.array(unit, { minLength: 50, maxLength: 50 }),
      (outageMs, draws) => {
        assert.ok(backAfter(outageMs, draws) <= 650);
      },
    ),
  );
});

test('a long outage costs few attempts: one every 2.5-5 s once away for 20 s', () => {
  fc.assert(
    fc.property(fc.array(unit, { minLength: 100, maxLength: 100 }), (draws) => {
      let at = 0;
      let attempts = 0;
      while (at < 600_000) at += backoffDelay(attempts, at, DEFAULT_BACKOFF, () => draws[attempts++ % 100]!);
      // 10 minutes at one attempt per 2.5 s at most, plus the first 20 s: 8 in the first 2 s,
      // then waits of at least an eighth of the time away (8 ln 10, about 19).
      assert.ok(attempts <= 600_000 / 2500 + 28, `${attempts} attempts`);
    }),
  );
});

test("the server's reconnect hint is waited at least, plus up to half of it", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 60_000 }), unit, (hint, r) => {
      const delay = hintedDelay(hint, () => r);
      assert.ok(delay >= hint && delay <= hint * 1.5);
    }),
  );
});
