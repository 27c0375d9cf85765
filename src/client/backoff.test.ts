import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay, hintedDelay } from './backoff.ts';

const options = { baseDelayMs: 100, maxDelayMs: 1000 };

test('full jitter: a random wait below the doubling ceiling', () => {
  assert.equal(
    backoffDelay(0, options, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(0, options, () => 0.999),
    99,
  );
  assert.equal(
    backoffDelay(3, options, () => 0.5),
    400,
  );
});

test('the ceiling is capped, however many attempts failed', () => {
  assert.equal(
    backoffDelay(10, options, () => 0.999),
    999,
  );
  assert.equal(
    backoffDelay(5000, options, () => 0.5),
    500,
  );
});

test("the server's reconnect hint is waited at least, plus up to half of it", () => {
  assert.equal(
    hintedDelay(1000, () => 0),
    1000,
  );
  assert.equal(
    hintedDelay(1000, () => 0.999),
    1499,
  );
});
