import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARRIVING_MS, Arrivals } from './arrivals.ts';

test('connections count as arriving for a while after an accept, and not before any', () => {
  let now = 5_000;
  const arrivals = new Arrivals(() => now);
  assert.equal(arrivals.arriving(), false, 'nothing accepted yet');
  arrivals.arrived();
  now += ARRIVING_MS - 1;
  assert.equal(arrivals.arriving(), true);
  now += 1;
  assert.equal(arrivals.arriving(), false, 'the last accept is too long ago');
  arrivals.arrived();
  assert.equal(arrivals.arriving(), true);
});
