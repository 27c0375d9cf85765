import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { decodeCursor, PushwireError } from '../protocol/index.ts';
import { readSubscribeQuery } from './request-input.ts';

const NO_HEADERS = { headers: {} } as IncomingMessage;
const cursorOf = (cursor: string) =>
  readSubscribeQuery(NO_HEADERS, new URLSearchParams({ channel: 'a', cursor }), 100, null).cursor;

test('a cursor read again, from memory, is what decoding it gives', () => {
  const text = '1~a~Ep0ch~7~b~Ep0ch~9';
  assert.deepEqual(cursorOf(text), decodeCursor(text));
  assert.deepEqual(cursorOf(text), decodeCursor(text));
});

test('an invalid cursor is refused every time it comes', () => {
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => cursorOf('1~a~Ep0ch~seven'),
      (error: unknown) => error instanceof PushwireError && error.code === 'invalid_cursor',
    );
  }
});

test('past the cursors it remembers, every cursor still reads as itself', () => {
  // Twice the memory's bound and more: it is emptied and refilled on the way.
  for (let offset = 0; offset < 2_500; offset++) {
    assert.equal(cursorOf(`1~a~Ep0ch~${offset}`)?.get('a')?.offset, offset);
  }
  // Longer than it remembers: decoded each time.
  const [c, d] = ['c'.repeat(150), 'd'.repeat(150)];
  const long = `1~${c}~Ep0ch~5~${d}~Ep0ch~6`;
  assert.equal(cursorOf(long)?.get(d)?.offset, 6);
  assert.equal(cursorOf(long)?.get(c)?.offset, 5);
});
