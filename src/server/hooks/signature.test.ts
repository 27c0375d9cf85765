import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { sign, verify } from './signature.ts';

const SECRET = 'a'.repeat(32);

test('the signature is the hex HMAC-SHA256 of "t.body", as a receiver computes it', () => {
  const body = '{"events":[]}';
  const header = sign(SECRET, body, 1_700_000_000);
  const expected = createHmac('sha256', SECRET).update(`1700000000.${body}`).digest('hex');
  assert.equal(header, `t=1700000000,v1=${expected}`);
  assert.equal(verify(SECRET, header, body, 1_700_000_000), true);
});

test('a changed body, another secret, an old time or a malformed header does not verify', () => {
  const body = '{"events":[]}';
  const header = sign(SECRET, body, 1_700_000_000);
  assert.equal(verify(SECRET, header, '{"events":[1]}', 1_700_000_000), false);
  assert.equal(verify('b'.repeat(32), header, body, 1_700_000_000), false);
  assert.equal(verify(SECRET, header, body, 1_700_000_000 + 301), false);
  assert.equal(verify(SECRET, 'v1=00', body, 1_700_000_000), false);
  assert.equal(verify(SECRET, undefined, body, 1_700_000_000), false);
});
