import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeCursor, cursorSegment, PushwireError } from '../protocol/index.ts';
import { Subscriptions, type SubscriptionsOwner } from './subscriptions.ts';
import type { SessionSink } from './types.ts';

const sink: SessionSink = {
  message() {},
  batch() {},
  gap() {},
  dropped() {},
  close() {},
};
const owner = {
  recentMessage() {
    throw new Error('no replay in these tests');
  },
  stopped: () => false,
} as unknown as SubscriptionsOwner;

test('one channel, then a second: lookups, order and cursor hold across the change of storage', () => {
  const subscriptions = new Subscriptions(sink, owner);
  assert.equal(subscriptions.size, 0);
  assert.deepEqual([...subscriptions.channels()], []);
  assert.equal(subscriptions.cursor(), composeCursor([]));

  const a = subscriptions.add('a', 10);
  subscriptions.moveTo(a, 'e1', 4);
  assert.equal(subscriptions.size, 1);
  assert.equal(subscriptions.get('a'), a);
  assert.equal(subscriptions.has('b'), false);
  assert.equal(subscriptions.cursor(), composeCursor([cursorSegment('a', 'e1', 4)]));

  const b = subscriptions.add('b', 10);
  subscriptions.moveTo(b, 'e2', 7);
  assert.equal(subscriptions.size, 2);
  assert.equal(subscriptions.get('a'), a, 'the first subscription is still found');
  assert.deepEqual([...subscriptions.channels()], ['a', 'b'], 'in subscription order');
  assert.deepEqual(subscriptions.all(), [a, b]);
  assert.equal(
    subscriptions.cursor(),
    composeCursor([cursorSegment('a', 'e1', 4), cursorSegment('b', 'e2', 7)]),
  );

  subscriptions.delete(a);
  assert.equal(subscriptions.size, 1);
  assert.equal(subscriptions.get('a'), undefined);
  assert.deepEqual([...subscriptions.channels()], ['b']);
  subscriptions.assertStillSubscribed(b);
  assert.throws(() => subscriptions.assertStillSubscribed(a), PushwireError);
});

test('a channel twice is already_subscribed, past the cap too_many_channels, with one or many', () => {
  const subscriptions = new Subscriptions(sink, owner);
  subscriptions.add('a', 2);
  assert.throws(() => subscriptions.add('a', 2), { code: 'already_subscribed' });
  subscriptions.add('b', 2);
  assert.throws(() => subscriptions.add('b', 2), { code: 'already_subscribed' });
  assert.throws(() => subscriptions.add('c', 2), { code: 'too_many_channels' });
  const one = new Subscriptions(sink, owner);
  one.add('a', 1);
  assert.throws(() => one.add('b', 1), { code: 'too_many_channels' });
});

test('deleting the only subscription leaves none; a stale one deletes nothing', () => {
  const subscriptions = new Subscriptions(sink, owner);
  const first = subscriptions.add('a', 10);
  subscriptions.delete(first);
  assert.equal(subscriptions.size, 0);
  const again = subscriptions.add('a', 10);
  subscriptions.delete(first);
  assert.equal(subscriptions.get('a'), again, 'the old subscription is not the current one');
});

test('subscribers at the same position share one segment string, and a new position gets its own', () => {
  const one = new Subscriptions(sink, owner);
  const two = new Subscriptions(sink, owner);
  const a = one.add('ch', 10);
  const b = two.add('ch', 10);
  one.moveTo(a, 'e', 3);
  two.moveTo(b, 'e', 3);
  assert.equal(a.segment, cursorSegment('ch', 'e', 3));
  assert.equal(b.segment, a.segment);
  two.moveTo(b, 'e', 4);
  assert.equal(b.segment, cursorSegment('ch', 'e', 4));
  two.moveTo(b, 'f', 4);
  assert.equal(b.segment, cursorSegment('ch', 'f', 4));
});
