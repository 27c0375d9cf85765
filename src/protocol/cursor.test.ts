import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { composeCursor, cursorSegment, decodeCursor, EMPTY_CURSOR, encodeCursor } from './cursor.ts';
import { PushwireError } from './errors.ts';

const channel = fc.stringMatching(/^[A-Za-z0-9_.@=-]{1,20}(:[A-Za-z0-9_.@=:-]{1,20})?$/);
const epoch = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/);
const offset = fc.nat({ max: Number.MAX_SAFE_INTEGER });

test('any set of positions survives encode then decode', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(channel, epoch, offset), { selector: ([c]) => c, maxLength: 8 }),
      (entries) => {
        const positions = new Map(entries.map(([c, e, o]) => [c, { epoch: e, offset: o }]));
        const text = encodeCursor(positions);
        assert.deepEqual(decodeCursor(text), positions);
        assert.equal(composeCursor(entries.map(([c, e, o]) => cursorSegment(c, e, o))), text);
        assert.doesNotMatch(text, /[\s"\\%&?#]/, 'safe in URLs, headers and JSON');
      },
    ),
  );
});

test('the empty cursor names no channel', () => {
  assert.equal(decodeCursor(EMPTY_CURSOR).size, 0);
});

test('malformed cursors are refused with invalid_cursor', () => {
  const bad = [
    '',
    'x',
    '2~a~e~1',
    '1~a~e',
    '1~a~e~1~b',
    '1~a~e~x',
    '1~a~e~-1',
    '1~a~e~1.5',
    '1~a b~e~1',
    '1~a~e!~1',
  ];
  for (const text of [...bad, '1~a~e~1~a~e~2', `1${'~a~e~1'.repeat(5000)}`]) {
    assert.throws(
      () => decodeCursor(text),
      (error: unknown) => error instanceof PushwireError && error.code === 'invalid_cursor',
      text.slice(0, 40),
    );
  }
});

test('arbitrary strings never throw anything but invalid_cursor', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (text) => {
      try {
        decodeCursor(text);
      } catch (error) {
        assert.ok(error instanceof PushwireError && error.code === 'invalid_cursor');
      }
    }),
  );
});
