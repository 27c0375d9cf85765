import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HashRing } from './hash-ring.ts';

const channels = Array.from({ length: 3000 }, (_, i) => `chat:room-${i}`);

test('every channel maps to the same shard whatever the order of the shard list', () => {
  const a = new HashRing([
    { name: 'redis://a', value: 'a' },
    { name: 'redis://b', value: 'b' },
  ]);
  const b = new HashRing([
    { name: 'redis://b', value: 'b' },
    { name: 'redis://a', value: 'a' },
  ]);
  for (const channel of channels) assert.equal(a.get(channel), b.get(channel));
});

test('channels spread over every shard', () => {
  const ring = new HashRing(['a', 'b', 'c'].map((name) => ({ name, value: name })));
  const counts = new Map<string, number>();
  for (const channel of channels) counts.set(ring.get(channel), (counts.get(ring.get(channel)) ?? 0) + 1);
  for (const name of ['a', 'b', 'c']) {
    const share = (counts.get(name) ?? 0) / channels.length;
    assert.ok(share > 0.2 && share < 0.47, `shard ${name} got ${share}`);
  }
});

test('adding a shard moves only the channels the new shard takes', () => {
  const two = new HashRing(['a', 'b'].map((name) => ({ name, value: name })));
  const three = new HashRing(['a', 'b', 'c'].map((name) => ({ name, value: name })));
  let moved = 0;
  for (const channel of channels) {
    const before = two.get(channel);
    const after = three.get(channel);
    if (before !== after) {
      assert.equal(after, 'c', `${channel} moved from ${before} to ${after}, not to the new shard`);
      moved++;
    }
  }
  assert.ok(moved > channels.length * 0.2 && moved < channels.length * 0.47, `moved ${moved}`);
});
