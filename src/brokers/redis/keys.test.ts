import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelKeys, channelOfPubsub, decodePayload } from './keys.ts';

test("a channel's names share one hash tag and its pub/sub name maps back to it", () => {
  const keys = channelKeys('pw', 'chat:lobby');
  for (const name of Object.values(keys)) assert.ok(name.startsWith('{pw:chat:lobby}:'), name);
  assert.equal(channelOfPubsub('pw', keys.pubsub), 'chat:lobby');
  assert.equal(channelOfPubsub('other', keys.pubsub), null);
  assert.equal(channelOfPubsub('pw', keys.meta), null);
});

test('the payload header is split off and the data kept as text, spaces and all', () => {
  assert.deepEqual(decodePayload('c', '42 Xk3vQ9aB 1700000000123 {"a": "b c"}'), {
    channel: 'c',
    offset: 42,
    epoch: 'Xk3vQ9aB',
    time: 1700000000123,
    data: '{"a": "b c"}',
  });
  assert.equal(decodePayload('c', 'garbage'), null);
  assert.equal(decodePayload('c', 'x e 1 "d"'), null);
});
