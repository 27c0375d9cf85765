import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LATENCY_BUCKETS_SECONDS, LatencyHistogram } from './latency.ts';
import { OutboundBatch, OutboundMessage } from './outbound.ts';

const message = (offset: number, time: number) =>
  new OutboundMessage({ channel: 'c', offset, epoch: 'E', data: '1', time });

test('each message of a batch counts once, in the bucket of its age at fan-out', () => {
  const histogram = new LatencyHistogram();
  const batch = new OutboundBatch([message(1, 10_000), message(2, 10_990), message(3, 11_000)]);
  histogram.observeBatch(batch, 11_000);
  assert.equal(histogram.count, 3);
  assert.equal(histogram.sumSeconds, 1.01);
  // 0 s and 10 ms fall in the first buckets whose bounds hold them; 1 s in the 1 s bucket.
  assert.equal(histogram.counts[0], 1);
  assert.equal(histogram.counts[LATENCY_BUCKETS_SECONDS.indexOf(0.01)], 1);
  assert.equal(histogram.counts[LATENCY_BUCKETS_SECONDS.indexOf(1)], 1);
});

test('past the last bound an observation lands in the overflow bucket; a clock behind counts as 0', () => {
  const histogram = new LatencyHistogram();
  histogram.observe(60);
  histogram.observeBatch(new OutboundBatch([message(1, 5000)]), 4000);
  assert.equal(histogram.counts[LATENCY_BUCKETS_SECONDS.length], 1);
  assert.equal(histogram.counts[0], 1);
});
