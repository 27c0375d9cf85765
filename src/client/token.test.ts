import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refreshDelay, tokenExpiry } from './token.ts';

test('a short token is refreshed with half its life to spare, a long one 30-45 s before expiry', () => {
  const now = 1_000_000;
  assert.equal(
    refreshDelay(now + 5000, now, () => 0),
    2500,
  );
  assert.equal(
    refreshDelay(now + 5000, now, () => 1),
    1250,
  );
  assert.equal(
    refreshDelay(now + 3_600_000, now, () => 0),
    3_570_000,
  );
  assert.equal(
    refreshDelay(now + 3_600_000, now, () => 1),
    3_555_000,
  );
  assert.equal(refreshDelay(now - 10, now), 0, 'an expired token at once');
});

test("a JWT's exp in ms, read without its signature; null for what isn't one", () => {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  assert.equal(
    tokenExpiry(`${part({ alg: 'HS256' })}.${part({ sub: 'ü?>', exp: 1_800_000_000 })}.sig`),
    1_800_000_000_000,
  );
  assert.equal(tokenExpiry(`${part({ alg: 'HS256' })}.${part({ sub: 'a' })}.sig`), null);
  assert.equal(tokenExpiry('not-a-jwt'), null);
  assert.equal(tokenExpiry(undefined), null);
});
