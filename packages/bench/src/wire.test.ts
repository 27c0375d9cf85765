import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchPayload, channelName, type Delivery, publishedOn, publishSlot, readDelivery } from './wire.ts';

const out: Delivery = { seq: 0, sentUs: 0, order: 0 };

test('reads seq, time and offset from a Pushwire message', () => {
  const text = `{"op":"message","channel":"c","offset":42,"epoch":"e","data":${benchPayload(7, 123456, 100)},"cursor":"1~c~e~42"}`;
  assert.notEqual(readDelivery(text, 0, 'offset', out), -1);
  assert.deepEqual(out, { seq: 7, sentUs: 123456, order: 42 });
  assert.equal(benchPayload(7, 123456, 100).length, 100);
});

test('reads every message of a long-poll body, and nothing from a control frame', () => {
  const body = `{"messages":[{"channel":"c","offset":5,"data":${benchPayload(1, 10, 60)}},{"channel":"c","offset":6,"data":${benchPayload(2, 20, 60)}}],"cursor":"x"}`;
  const seen: number[][] = [];
  let from = 0;
  for (;;) {
    from = readDelivery(body, from, 'offset', out);
    if (from === -1) break;
    seen.push([out.seq, out.order, out.sentUs]);
  }
  assert.deepEqual(seen, [
    [1, 5, 10],
    [2, 6, 20],
  ]);
  assert.equal(readDelivery('{"op":"ping"}', 0, 'offset', out), -1);
});

test('orders by seq for targets without offsets', () => {
  readDelivery(benchPayload(9, 1, 40), 0, 'seq', out);
  assert.equal(out.order, 9);
});

test('publishes go round-robin over the channels, each numbering its own seqs from 1', () => {
  const channels = 3;
  const seen = new Map<number, number[]>();
  for (let k = 1; k <= 8; k++) {
    const { channel, seq } = publishSlot(k, channels);
    seen.set(channel, [...(seen.get(channel) ?? []), seq]);
  }
  assert.deepEqual(
    [...seen],
    [
      [0, [1, 2, 3]],
      [1, [1, 2, 3]],
      [2, [1, 2]],
    ],
  );
  assert.deepEqual(
    [0, 1, 2].map((channel) => publishedOn(channel, 8, channels)),
    [3, 3, 2],
  );
  assert.equal(publishSlot(5, 1).seq, 5);
  assert.equal(channelName('bench', 1, 7), 'bench');
  assert.equal(channelName('bench', 3, 7), 'bench_1');
});
