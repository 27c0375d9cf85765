import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRedisUrl, redactRedisUrl, redisAddress } from './connection.ts';

test('a plain URL: one host, default port, credentials decoded', () => {
  assert.deepEqual(parseRedisUrl('redis://user:p%40ss@cache.internal/2'), {
    scheme: 'redis',
    username: 'user',
    password: 'p@ss',
    hosts: [{ host: 'cache.internal', port: 6379 }],
    path: '/2',
  });
});

test('a password without a user, and TLS', () => {
  const parsed = parseRedisUrl('rediss://:secret@127.0.0.1:6380');
  assert.equal(parsed.scheme, 'rediss');
  assert.equal(parsed.username, undefined);
  assert.equal(parsed.password, 'secret');
  assert.deepEqual(parsed.hosts, [{ host: '127.0.0.1', port: 6380 }]);
});

test('sentinels and cluster seeds: several hosts, IPv6 in brackets', () => {
  const parsed = parseRedisUrl('redis-sentinel://10.0.0.1,10.0.0.2:26380,[::1]:26381/mymaster');
  assert.deepEqual(parsed.hosts, [
    { host: '10.0.0.1', port: 26379 },
    { host: '10.0.0.2', port: 26380 },
    { host: '::1', port: 26381 },
  ]);
  assert.equal(parsed.path, '/mymaster');
});

test('anything else is refused with the schemes it accepts', () => {
  assert.throws(
    () => parseRedisUrl('http://127.0.0.1:6379'),
    /redis:\/\/, rediss:\/\/ or redis-sentinel:\/\//,
  );
  assert.throws(() => parseRedisUrl('redis://host:port'), /invalid host/);
});

test('a URL shown in a message masks its password, and only that', () => {
  assert.equal(redactRedisUrl('redis://user:p%40ss@cache.internal/2'), 'redis://user:***@cache.internal/2');
  assert.equal(redactRedisUrl('rediss://:secret@127.0.0.1:6380'), 'rediss://:***@127.0.0.1:6380');
  assert.equal(redactRedisUrl('redis://secret@host'), 'redis://***@host');
  assert.equal(redactRedisUrl('redis://127.0.0.1:6379/0'), 'redis://127.0.0.1:6379/0');
  // Unencoded "@" and "/" in a password: nothing of it is left.
  assert.equal(redactRedisUrl('redis://u:a/b@c@host:1'), 'redis://u:***@host:1');
  assert.equal(
    redactRedisUrl('redis-sentinel://:pw@10.0.0.1,10.0.0.2:26380/mymaster'),
    'redis-sentinel://:***@10.0.0.1,10.0.0.2:26380/mymaster',
  );
});

test('an unparsable URL is refused without repeating its password', () => {
  assert.throws(
    () => parseRedisUrl('http://admin:hunter2@127.0.0.1:6379'),
    (error: Error) => !error.message.includes('hunter2') && error.message.includes('admin:***@'),
  );
});

test('logs name a Redis by host:port alone', () => {
  assert.equal(redisAddress('redis://user:s3cret@cache/2'), 'cache:6379');
  assert.equal(redisAddress('redis-sentinel://10.0.0.1,[::1]:26381/m'), '10.0.0.1:26379,[::1]:26381');
  assert.equal(redisAddress('redis://u:s3cret@host:notaport'), 'redis://u:***@host:notaport');
});
