import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptedEncoding, notModified } from './http-caching.ts';

const BOTH = ['br', 'gzip'] as const;

test('picks the accepted encoding with the highest q-value, brotli on a tie', () => {
  assert.equal(acceptedEncoding(undefined, BOTH), null);
  assert.equal(acceptedEncoding('', BOTH), null);
  assert.equal(acceptedEncoding('gzip, deflate, br', BOTH), 'br');
  assert.equal(acceptedEncoding('gzip', BOTH), 'gzip');
  assert.equal(acceptedEncoding('gzip;q=1.0, br;q=0.5', BOTH), 'gzip');
  assert.equal(acceptedEncoding('identity', BOTH), null);
  assert.equal(acceptedEncoding('*', BOTH), 'br');
  assert.equal(acceptedEncoding('GZIP', ['gzip']), 'gzip');
  assert.equal(acceptedEncoding('br', ['gzip']), null, 'only what is available');
});

test('q=0 refuses an encoding, also through *', () => {
  assert.equal(acceptedEncoding('br;q=0, gzip', BOTH), 'gzip');
  assert.equal(acceptedEncoding('br;q=0, *', BOTH), 'gzip');
  assert.equal(acceptedEncoding('*;q=0', BOTH), null);
  assert.equal(acceptedEncoding('gzip;q=0, br; q=0', BOTH), null);
  assert.equal(acceptedEncoding('gzip;q=abc', BOTH), null);
});

test('If-None-Match (weakly compared) wins over If-Modified-Since', () => {
  const etag = '"abc-br"';
  const modified = 'Wed, 01 Jan 2025 00:00:00 GMT';
  assert.equal(notModified({ 'if-none-match': '"abc-br"' }, etag, modified), true);
  assert.equal(notModified({ 'if-none-match': '"x", W/"abc-br"' }, etag, modified), true);
  assert.equal(notModified({ 'if-none-match': '*' }, etag, modified), true);
  assert.equal(notModified({ 'if-none-match': '"abc-gzip"' }, etag, modified), false);
  assert.equal(
    notModified({ 'if-none-match': '"old"', 'if-modified-since': modified }, etag, modified),
    false,
    'a stale ETag is not rescued by the date',
  );
  assert.equal(notModified({ 'if-modified-since': modified }, etag, modified), true);
  assert.equal(notModified({ 'if-modified-since': 'Tue, 31 Dec 2024 23:59:59 GMT' }, etag, modified), false);
  assert.equal(notModified({ 'if-modified-since': 'garbage' }, etag, modified), false);
  assert.equal(notModified({}, etag, modified), false);
});
