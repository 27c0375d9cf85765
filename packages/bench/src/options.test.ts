import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchArgs } from './options.ts';

test('latency counts from the send unless --latency-from schedule says from the due time', () => {
  assert.equal(parseBenchArgs([]).latencyFrom, 'send');
  assert.equal(parseBenchArgs(['--latency-from', 'schedule']).latencyFrom, 'schedule');
  assert.equal(parseBenchArgs(['--latency-from', 'send']).latencyFrom, 'send');
  assert.throws(() => parseBenchArgs(['--latency-from', 'queue']), /--latency-from: "queue"/);
  assert.throws(() => parseBenchArgs(['--latency-from', 'send,schedule']), /--latency-from/);
});

test('--node-args gives every Node target the same flags; none by default', () => {
  assert.deepEqual(parseBenchArgs([]).nodeArgs, []);
  assert.deepEqual(parseBenchArgs(['--node-args=--max-semi-space-size=8']).nodeArgs, [
    '--max-semi-space-size=8',
  ]);
  assert.deepEqual(parseBenchArgs(['--node-args', ' --a=1  --b ']).nodeArgs, ['--a=1', '--b']);
});
