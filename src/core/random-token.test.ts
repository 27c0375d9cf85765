import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomToken } from './random-token.ts';

test('tokens carry the bytes asked for and never repeat, across refills of the pool', () => {
  const seen = new Set<string>();
  // 16-byte tokens from several 4 KiB pools, and odd sizes that straddle a refill.
  for (let i = 0; i < 2000; i++) {
    const token = randomToken(i % 7 === 0 ? 9 : 16);
    assert.equal(Buffer.from(token, 'base64url').length, i % 7 === 0 ? 9 : 16);
    assert.ok(!seen.has(token));
    seen.add(token);
  }
  assert.equal(Buffer.from(randomToken(5000), 'base64url').length, 5000);
});
