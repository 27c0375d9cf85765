import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseClientCommand } from './commands.ts';

test('valid commands parse into typed values', () => {
  assert.deepEqual(parseClientCommand('{"id":1,"op":"subscribe","channel":"ns:a"}'), {
    ok: true,
    command: { op: 'subscribe', id: 1, channel: 'ns:a' },
  });
  const withCursor = parseClientCommand('{"id":"x","op":"subscribe","channel":"a","cursor":"1~a~E1~4"}');
  assert.ok(withCursor.ok && withCursor.command.op === 'subscribe');
  assert.deepEqual(withCursor.command.cursor?.get('a'), { epoch: 'E1', offset: 4 });
  assert.deepEqual(parseClientCommand('{"id":2,"op":"publish","channel":"a","data":{"b":[1,null]}}'), {
    ok: true,
    command: { op: 'publish', id: 2, channel: 'a', data: '{"b":[1,null]}' },
  });
  assert.deepEqual(parseClientCommand('{"op":"history","channel":"a","limit":5}'), {
    ok: true,
    command: { op: 'history', id: undefined, channel: 'a', limit: 5 },
  });
  assert.deepEqual(parseClientCommand('{"op":"pong"}'), { ok: true, command: { op: 'pong', id: undefined } });
});

test('publishing null is allowed; a missing data field is not', () => {
  assert.ok(parseClientCommand('{"op":"publish","channel":"a","data":null}').ok);
  const missing = parseClientCommand('{"id":3,"op":"publish","channel":"a"}');
  assert.ok(!missing.ok && missing.error.code === 'invalid_request' && missing.id === 3);
});

test('each kind of bad frame gets its code, with the id when it could be read', () => {
  const cases: [string, string, unknown][] = [
    ['{', 'invalid_json', undefined],
    ['"text"', 'invalid_request', undefined],
    ['{"id":4,"op":"jump"}', 'unknown_op', 4],
    ['{"id":5,"op":7}', 'invalid_request', 5],
    ['{"id":6,"op":"subscribe","channel":"a b"}', 'invalid_channel', 6],
    ['{"id":7,"op":"subscribe","channel":"a","cursor":5}', 'invalid_cursor', 7],
    ['{"id":8,"op":"history","channel":"a","limit":-1}', 'invalid_request', 8],
    ['{"id":[1],"op":"pong"}', 'invalid_request', undefined],
  ];
  for (const [frame, code, id] of cases) {
    const parsed = parseClientCommand(frame);
    assert.ok(!parsed.ok, frame);
    assert.equal(parsed.error.code, code, frame);
    assert.equal(parsed.id, id, frame);
  }
});

test('no input makes the parser throw', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
      parseClientCommand(text);
    }),
  );
});
