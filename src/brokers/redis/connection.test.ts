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

test('a password never shows: redacted URLs and host:port addresses', () => {
  assert.equal(redactRedisUrl('redis://user:s3cret@cache:6379/2'), 'redis://user:***@cache:6379/2');
  assert.equal(redactRedisUrl('rediss://:s3cret@cache'), 'rediss://:***@cache');
  assert.equal(redactRedisUrl('redis://s3cret@cache'), 'redis://***@cache');
  assert.equal(redactRedisUrl('redis://cache:6379'), 'redis://cache:6379');
  assert.equal(
    redactRedisUrl('redis-sentinel://u:p@10.0.0.1,10.0.0.2:26380/mymaster'),
    'redis-sentinel://u:***@10.0.0.1,10.0.0.2:26380/mymaster',
  );
  assert.equal(redisAddress('redis://user:s3cret@cache/2'), 'cache:6379');
  assert.equal(redisAddress('redis-sentinel://10.0.0.1,[::1]:26381/m'), '10.0.0.1:26379,[::1]:26381');
  assert.throws(
    () => parseRedisUrl('redis://u:s3cret@host:port'),
    (error: Error) => !/s3cret/.test(error.message),
  );
  assert.throws(
    () => parseRedisUrl('http://u:s3cret@h'),
    (error: Error) => !/s3cret/.test(error.message),
  );
});
