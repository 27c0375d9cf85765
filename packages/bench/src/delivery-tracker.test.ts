import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeliveryTracker } from './delivery-tracker.ts';

test('counts lost, duplicated and out-of-order deliveries', () => {
  const tracker = new DeliveryTracker(5);
  assert.equal(tracker.record(1, 11), true);
  assert.equal(tracker.record(3, 13), true);
  assert.equal(tracker.record(2, 12), true); // arrived after a higher offset
  assert.equal(tracker.record(3, 13), false); // again
  assert.equal(tracker.received, 3);
  assert.equal(tracker.duplicated, 1);
  assert.equal(tracker.reordered, 1);
  assert.equal(tracker.lost(5), 2); // 4 and 5
});

test('grows past the expected count', () => {
  const tracker = new DeliveryTracker(2);
  for (let seq = 1; seq <= 100; seq++) tracker.record(seq, seq);
  assert.equal(tracker.lost(100), 0);
  assert.equal(tracker.reordered, 0);
});
