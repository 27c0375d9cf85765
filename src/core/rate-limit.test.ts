import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey, RateLimiter, TokenBucket } from './rate-limit.ts';

test('a burst passes, then the rate holds, per key', () => {
  let now = 0;
  const limiter = new RateLimiter(10, 5, () => now);
  const burst = Array.from({ length: 8 }, () => limiter.take('a'));
  assert.deepEqual(burst, [true, true, true, true, true, false, false, false]);
  assert.equal(limiter.take('b'), true, 'another key has its own bucket');
  now += 100; // one token back at 10/s
  assert.equal(limiter.take('a'), true);
  assert.equal(limiter.take('a'), false);
  now += 10_000;
  assert.equal([1, 2, 3, 4, 5, 6].filter(() => limiter.take('a')).length, 5, 'refills up to the burst only');
});

test('one bucket: a burst, then the rate', () => {
  let now = 0;
  const bucket = new TokenBucket(10, 3, () => now);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => bucket.take()),
    [true, true, true, false],
  );
  now += 100;
  assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
  now += 60_000;
  assert.equal([1, 2, 3, 4].filter(() => bucket.take()).length, 3, 'refills up to the burst only');
});

test('addresses are limited as IPv4 addresses, or by their IPv6 /64', () => {
  assert.equal(addressKey('203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2');
  assert.equal(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0');
  assert.equal(addressKey('::1'), '0:0:0:0');
  assert.notEqual(addressKey('2001:db8:1:3::1'), addressKey('2001:db8:1:2::1'));
});
