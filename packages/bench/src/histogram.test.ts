import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatencyHistogram } from './histogram.ts';

test('percentiles are exact below 1 ms and within 1 % above', () => {
  const histogram = new LatencyHistogram();
  for (let us = 1; us <= 1000; us++) histogram.record(us);
  assert.equal(histogram.quantileUs(0.5), 500);
  assert.equal(histogram.quantileUs(0.99), 990);
  const wide = new LatencyHistogram();
  for (let i = 1; i <= 100; i++) wide.record(i * 10_000);
  for (const [q, expected] of [
    [0.5, 500_000],
    [0.9, 900_000],
    [0.99, 990_000],
  ] as const) {
    const value = wide.quantileUs(q);
    assert.ok(Math.abs(value - expected) / expected < 0.01, `q${q}: ${value} vs ${expected}`);
  }
  assert.equal(wide.summary().maxMs, 1000);
});

test('histograms merge through their sparse form', () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  for (let i = 0; i < 50; i++) a.record(100);
  for (let i = 0; i < 50; i++) b.record(5000);
  const merged = new LatencyHistogram();
  merged.addSparse(a.toSparse());
  merged.addSparse(b.toSparse());
  assert.equal(merged.count, 100);
  assert.equal(merged.quantileUs(0.5), 100);
  assert.ok(merged.quantileUs(0.99) >= 5000);
});
