import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMix, splitByMix } from './capacity.ts';
import { TRANSPORTS } from './wire.ts';

test('a mix is read as weights, one per transport', () => {
  assert.deepEqual(parseMix('ws=70,sse=20,poll=10', TRANSPORTS), [
    { transport: 'ws', percent: 70 },
    { transport: 'sse', percent: 20 },
    { transport: 'poll', percent: 10 },
  ]);
  assert.throws(() => parseMix('ws=70,carrier-pigeon=30', TRANSPORTS), /carrier-pigeon/);
  assert.throws(() => parseMix('ws=0', TRANSPORTS), /ws=0/);
  assert.throws(() => parseMix('ws=50,ws=50', TRANSPORTS), /twice/);
});

test('the connections are split by weight and add up to the total', () => {
  const mix = parseMix('ws=70,sse=20,poll=10', TRANSPORTS);
  assert.deepEqual(splitByMix(100_000, mix), [70_000, 20_000, 10_000]);
  const odd = splitByMix(3001, mix);
  assert.equal(
    odd.reduce((a, b) => a + b, 0),
    3001,
  );
  assert.deepEqual(odd, [2101, 600, 300]);
  assert.deepEqual(splitByMix(10, parseMix('ws=1,sse=1,poll=1', TRANSPORTS)), [4, 3, 3]);
});
