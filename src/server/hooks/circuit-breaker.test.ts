import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreaker } from './circuit-breaker.ts';

test('opens after the threshold of failures in a row, lets one trial through after the pause', () => {
  let now = 0;
  const changes: boolean[] = [];
  const breaker = new CircuitBreaker(
    3,
    1000,
    (open) => changes.push(open),
    () => now,
  );
  breaker.failure();
  breaker.failure();
  breaker.success(); // a success in between: the count starts again
  for (let i = 0; i < 3; i++) {
    assert.equal(breaker.allow(), true);
    breaker.failure();
  }
  assert.equal(breaker.isOpen, true);
  assert.equal(breaker.allow(), false);
  now = 999;
  assert.equal(breaker.allow(), false);
  now = 1000;
  assert.equal(breaker.allow(), true, 'the trial');
  assert.equal(breaker.allow(), false, 'one trial at a time');
  breaker.failure(); // the trial failed: open again, for another pause
  assert.equal(breaker.allow(), false);
  now = 2000;
  assert.equal(breaker.allow(), true);
  breaker.success();
  assert.equal(breaker.isOpen, false);
  assert.equal(breaker.allow(), true);
  assert.deepEqual(changes, [true, false]);
});
