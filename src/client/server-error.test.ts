import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorOfResponse, retryAfterMs } from './server-error.ts';

test('Retry-After in seconds becomes ms; dates and nonsense are ignored', () => {
  assert.equal(retryAfterMs('5'), 5000);
  assert.equal(retryAfterMs(' 12 '), 12_000);
  assert.equal(retryAfterMs('0'), 0);
  for (const ignored of [null, '', '-1', '1.5', 'soon', 'Wed, 21 Oct 2015 07:28:00 GMT', '9'.repeat(12)]) {
    assert.equal(retryAfterMs(ignored), null, String(ignored));
  }
});

test("a refusal's Retry-After is kept with its code", async () => {
  const body = JSON.stringify({ error: { code: 'too_many_connections', message: 'full' } });
  const full = await errorOfResponse(new Response(body, { status: 503, headers: { 'Retry-After': '5' } }));
  assert.deepEqual([full?.code, full?.status, full?.retryAfterMs], ['too_many_connections', 503, 5000]);
  const plain = await errorOfResponse(new Response(body, { status: 503 }));
  assert.equal(plain?.retryAfterMs, undefined);
});
