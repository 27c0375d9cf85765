import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { backoffDelay, DEFAULT_BACKOFF, hintedDelay } from './backoff.ts';

const options = fc.record({
  baseDelayMs: fc.integer({ min: 1, max: 10_000 }),
  maxDelayMs: fc.integer({ min: 1, max: 60_000 }),
});
const attempt = fc.integer({ min: 0, max: 10_000 });
/** What Math.random returns: [0, 1). */
const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

test('every delay is a whole number of ms between 0 and the cap', () => {
  fc.assert(
    fc.property(attempt, options, unit, (n, backoff, r) => {
      const delay = backoffDelay(n, backoff, () => r);
      assert.ok(Number.isInteger(delay) && delay >= 0 && delay <= backoff.maxDelayMs, `${delay}`);
    }),
  );
});

test('the first reconnect goes at once: a spread of at most 250 ms', () => {
  fc.assert(
    fc.property(options, unit, (backoff, r) => {
      const delay = backoffDelay(0, backoff, () => r);
      assert.ok(delay < 250 && delay <= backoff.baseDelayMs / 2, `${delay}`);
    }),
  );
  assert.equal(
    backoffDelay(0, DEFAULT_BACKOFF, () => 0),
    0,
  );
});

test('later delays never collapse to ~0: at least half of min(base, cap), rising to half the cap', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10_000 }), options, unit, (n, backoff, r) => {
      const delay = backoffDelay(n, backoff, () => r);
      const floor = Math.floor(
        Math.min(backoff.baseDelayMs * 2 ** Math.min(n - 1, 30), backoff.maxDelayMs) / 2,
      );
      assert.ok(delay >= floor, `${delay} < ${floor}`);
      assert.ok(delay >= Math.floor(Math.min(backoff.baseDelayMs, backoff.maxDelayMs) / 2));
    }),
  );
});

test('the floor never falls from one attempt to the next', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }), options, (n, backoff) => {
      assert.ok(backoffDelay(n + 1, backoff, () => 0) >= backoffDelay(n, backoff, () => 0));
    }),
  );
});

test('defaults: at once, then 250-500 ms, 0.5-1 s, 1-2 s, 2-4 s, then 2.5-5 s for good', () => {
  const range = (n: number) => [
    backoffDelay(n, DEFAULT_BACKOFF, () => 0),
    backoffDelay(n, DEFAULT_BACKOFF, () => 0.9999),
  ];
  assert.deepEqual(range(0), [0, 249]);
  assert.deepEqual(range(1), [250, 499]);
  assert.deepEqual(range(2), [500, 999]);
  assert.deepEqual(range(3), [1000, 1999]);
  assert.deepEqual(range(4), [2000, 3999]);
  assert.deepEqual(range(5), [2500, 4999]);
  assert.deepEqual(range(1000), [2500, 4999]);
});

test('a client is back within the cap of the end of any outage', () => {
  // Attempts at the times the delays add up to: the first one after the outage ends comes at
  // most one cap later, whatever the outage's length and the random draws.
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 120_000 }),
      fc.array(unit, { minLength: 200, maxLength: 200 }),
      (outageMs, draws) => {
        let at = 0;
        let n = 0;
        while (at < outageMs) at += backoffDelay(n, DEFAULT_BACKOFF, () => draws[n++ % draws.length]!);
        assert.ok(at - outageMs <= DEFAULT_BACKOFF.maxDelayMs, `back ${at - outageMs} ms after the outage`);
      },
    ),
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
