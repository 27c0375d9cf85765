import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpiryWheel } from './expiry.ts';

function member(name: string, log: string[]) {
  return { expire: () => log.push(name) };
}

test('members expire at their deadline, never before, in one turn per slot', () => {
  let now = 1_000_000;
  const wheel = new ExpiryWheel(() => now);
  const log: string[] = [];
  const a = member('a', log);
  const b = member('b', log);
  const c = member('c', log);
  wheel.add(a, now + 1000);
  wheel.add(b, now + 1000);
  wheel.add(c, now + 5000);
  wheel.turn(now + 999);
  assert.deepEqual(log, []);
  wheel.turn(now + 1000);
  assert.deepEqual(log, ['a', 'b']);
  assert.equal(wheel.size, 1);
  // A turn that comes late catches up on every slot it missed.
  now += 60_000;
  wheel.turn(now);
  assert.deepEqual(log, ['a', 'b', 'c']);
  assert.equal(wheel.size, 0);
  wheel.stop();
});

test('a removed member never expires; adding again moves its deadline; a past deadline expires next turn', () => {
  const now = 2_000_000;
  const wheel = new ExpiryWheel(() => now);
  const log: string[] = [];
  const a = member('a', log);
  const b = member('b', log);
  const late = member('late', log);
  wheel.add(a, now + 1000);
  wheel.add(b, now + 1000);
  wheel.remove(a);
  wheel.add(b, now + 10_000);
  wheel.turn(now + 2000);
  assert.deepEqual(log, []);
  wheel.add(late, now - 5000);
  wheel.turn(now + 2300);
  assert.deepEqual(log, ['late']);
  wheel.turn(now + 10_000);
  assert.deepEqual(log, ['late', 'b']);
  wheel.stop();
});
