import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLevel } from '../types.ts';
import { OutageLog } from './outage.ts';

function recorder() {
  const lines: { level: LogLevel; msg: string; err: unknown }[] = [];
  let clock = 0;
  const log = new OutageLog(
    '127.0.0.1:6379',
    (level, msg, err) => lines.push({ level, msg, err }),
    () => clock,
  );
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
  return { lines, log, refused, advance: (ms: number) => (clock += ms) };
}

test('an outage is one line, then reminders spaced wider each time, then one line when back', () => {
  const { lines, log, refused, advance } = recorder();
  // ioredis retries every 50 ms at first, then every 2 s: two connections, 60 s of failures.
  for (let elapsed = 0; elapsed < 60_000; elapsed += 200) {
    log.failed(refused);
    log.failed(refused);
    advance(200);
  }
  log.recovered();
  assert.deepEqual(
    lines.map((line) => line.msg),
    [
      'redis at 127.0.0.1:6379 unreachable (ECONNREFUSED); retrying',
      'redis at 127.0.0.1:6379 still unreachable after 5.0 s (ECONNREFUSED); retrying',
      'redis at 127.0.0.1:6379 still unreachable after 15 s (ECONNREFUSED); retrying',
      'redis at 127.0.0.1:6379 still unreachable after 35 s (ECONNREFUSED); retrying',
      'redis at 127.0.0.1:6379 reachable again after 60 s',
    ],
  );
  assert.deepEqual(
    lines.map((line) => line.level),
    ['warn', 'warn', 'warn', 'warn', 'info'],
  );
  assert.ok(
    lines.every((line) => line.err === undefined),
    'no error object, hence no stack, for an expected network error',
  );
});

test('an unexpected error keeps its details on the first line; a new outage starts over', () => {
  const { lines, log, advance } = recorder();
  const wrongPassword = new Error('WRONGPASS invalid username-password pair or user is disabled.');
  log.failed(wrongPassword);
  assert.equal(log.cause, 'WRONGPASS invalid username-password pair or user is disabled.');
  advance(1500);
  log.recovered('3 channels subscribed again');
  log.recovered();
  assert.equal(log.down, false);
  log.failed(new Error('connection lost'));
  assert.deepEqual(
    lines.map((line) => [line.msg, line.err === undefined]),
    [
      [
        'redis at 127.0.0.1:6379 unreachable (WRONGPASS invalid username-password pair or user is disabled.); retrying',
        false,
      ],
      ['redis at 127.0.0.1:6379 reachable again after 1.5 s; 3 channels subscribed again', true],
      ['redis at 127.0.0.1:6379 unreachable (connection lost); retrying', true],
    ],
  );
});
