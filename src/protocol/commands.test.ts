import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseClientCommand } from './commands.ts';

test('refresh carries a token of bounded length', () => {
  assert.deepEqual(parseClientCommand('{"id":7,"op":"refresh","token":"a.b.c"}'), {
    ok: true,
    command: { op: 'refresh', id: 7, token: 'a.b.c' },
  });
  for (const token of ['', 5, null, 'x'.repeat(8193)]) {
    const parsed = parseClientCommand(JSON.stringify({ id: 7, op: 'refresh', token }));
    assert.ok(!parsed.ok && parsed.error.code === 'invalid_request' && parsed.id === 7);
  }
});

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

test('a publish keeps its data as sent: big numbers, 1e999, key order, escapes', () => {
  const data = '{"big":12345678901234567890123,"x":1e999,"k2":1,"k1":2,"s":"\\u00e9\\ud800"}';
  assert.deepEqual(parseClientCommand(`{"id":1,"op":"publish","channel":"a","data":${data}}`), {
    ok: true,
    command: { op: 'publish', id: 1, channel: 'a', data },
  });
  const spaced = parseClientCommand('{ "op" : "publish" , "channel" : "a" , "data" : [ 1 , "x y" ] }');
  assert.ok(spaced.ok && spaced.command.op === 'publish' && spaced.command.data === '[ 1 , "x y" ]');
});

test('a publish larger than maxMessageBytes is refused; other commands are not measured', () => {
  const frame = '{"id":9,"op":"publish","channel":"a","data":"12345678"}';
  assert.ok(parseClientCommand(frame, 10).ok);
  const big = parseClientCommand(frame, 9);
  assert.ok(!big.ok && big.error.code === 'payload_too_large' && big.id === 9);
  assert.ok(parseClientCommand('{"op":"subscribe","channel":"a","x":"123456789012"}', 9).ok);
});

test('a key given twice is refused; the id is kept unless it is the repeated key', () => {
  const twice = parseClientCommand('{"id":1,"op":"publish","channel":"a","data":1,"channel":"b"}');
  assert.ok(!twice.ok && twice.error.code === 'invalid_request' && twice.id === 1);
  const ids = parseClientCommand('{"id":1,"op":"pong","id":2}');
  assert.ok(!ids.ok && ids.error.code === 'invalid_request' && ids.id === undefined);
});

test('a frame nested deeper than the limit is invalid_json, however deep', () => {
  for (const depth of [101, 20_000]) {
    const frame = `{"id":1,"op":"publish","channel":"a","data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const parsed = parseClientCommand(frame);
    assert.ok(!parsed.ok && parsed.error.code === 'invalid_json' && parsed.id === undefined, String(depth));
  }
  assert.ok(
    parseClientCommand(`{"op":"publish","channel":"a","data":${'['.repeat(100)}${']'.repeat(100)}}`).ok,
  );
});

test('any JSON value published comes back as its own text', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 20 }), (value) => {
      const data = JSON.stringify(value);
      const parsed = parseClientCommand(JSON.stringify({ op: 'publish', channel: 'a', data: value }));
      assert.ok(parsed.ok && parsed.command.op === 'publish');
      assert.equal(parsed.command.data, data);
    }),
  );
});
