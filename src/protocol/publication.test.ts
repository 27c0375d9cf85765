import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PushwireError } from './errors.ts';
import { MAX_JSON_DEPTH, type RawJson, scanJsonValue } from './json-scan.ts';
import { publicationOfValue, readPublication, readPublications, validatePublication } from './publication.ts';

const DATA = '{"big":12345678901234567890123,"x":1e999,"k2":1,"k1":2,"s":"\\ud800\\u00e9"}';
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

function refusedWith(code: string, run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof PushwireError, String(error));
    assert.equal(error.code, code, error.message);
    return error.message;
  }
  assert.fail(`expected ${code}`);
}

function raw(text: string): RawJson {
  const scanned = scanJsonValue(text);
  assert.ok(scanned.ok);
  return scanned.value;
}

describe('readPublication', () => {
  test('data comes back exactly as sent; channel is parsed', () => {
    assert.deepEqual(readPublication(`{"channel":"a","data":${DATA}}`, 1000), { channel: 'a', data: DATA });
    assert.deepEqual(readPublication(`{"data":${DATA},"extra":[1],"channel":"n\\u0073:b"}`, 1000), {
      channel: 'ns:b',
      data: DATA,
    });
    assert.deepEqual(readPublication('{"channel":"a","data":null}', 10), { channel: 'a', data: 'null' });
    assert.deepEqual(readPublication('{\n  "channel": "a",\n  "data": {\n    "t": "x y"\n  }\n}\n', 100), {
      channel: 'a',
      data: '{    "t": "x y"  }',
    });
  });

  test('each kind of bad body gets its code', () => {
    refusedWith('invalid_json', () => readPublication('{"channel":"a",', 100));
    refusedWith('invalid_json', () => readPublication('{"channel":"a","data":1} 2', 100));
    refusedWith('invalid_request', () => readPublication('[1,2]', 100));
    refusedWith('invalid_request', () => readPublication('"text"', 100));
    refusedWith('invalid_request', () => readPublication('{"channel":"a"}', 100));
    refusedWith('invalid_channel', () => readPublication('{"data":1}', 100));
    refusedWith('invalid_channel', () => readPublication('{"channel":"a b","data":1}', 100));
    refusedWith('invalid_channel', () => readPublication('{"channel":7,"data":1}', 100));
    refusedWith('invalid_channel', () => readPublication('{"channel":["a"],"data":1}', 100));
  });

  test('a key given twice is refused, whichever it is', () => {
    const message = refusedWith('invalid_request', () =>
      readPublication('{"channel":"a","data":1,"channel":"b"}', 100),
    );
    assert.match(message, /"channel" is given twice/);
    refusedWith('invalid_request', () => readPublication('{"channel":"a","data":1,"d\\u0061ta":2}', 100));
    refusedWith('invalid_request', () => readPublication('{"channel":"a","data":1,"x":1,"x":1}', 100));
    assert.equal(readPublication('{"channel":"a","data":{"x":1,"x":2}}', 100).data, '{"x":1,"x":2}');
  });

  test(`data nested up to ${MAX_JSON_DEPTH} levels passes; deeper is invalid_json`, () => {
    const limit = 1 << 20;
    assert.equal(readPublication(`{"channel":"a","data":${nested(MAX_JSON_DEPTH)}}`, limit).data.length, 200);
    const message = refusedWith('invalid_json', () =>
      readPublication(`{"channel":"a","data":${nested(MAX_JSON_DEPTH + 1)}}`, limit),
    );
    assert.match(message, /nested deeper than 100 levels/);
    refusedWith('invalid_json', () => readPublication(`{"channel":"a","data":${nested(20_000)}}`, limit));
  });
});

describe('readPublications', () => {
  test('one publication, or a list of them, each data as sent', () => {
    assert.deepEqual(readPublications(`{"channel":"a","data":${DATA}}`, 1000, 10), {
      list: false,
      publications: [{ channel: 'a', data: DATA }],
    });
    const body = `{"publications":[{"channel":"a","data":${DATA}}, {"data":[ 1 ],"channel":"b"}]}`;
    assert.deepEqual(readPublications(body, 1000, 10), {
      list: true,
      publications: [
        { channel: 'a', data: DATA },
        { channel: 'b', data: '[ 1 ]' },
      ],
    });
  });

  test('a bad list, or a bad publication in it, is refused naming which', () => {
    for (const list of ['null', '[]', '{}', '[1]', '[{"channel":"a","data":1},[]]', '"x"']) {
      refusedWith('invalid_request', () => readPublications(`{"publications":${list}}`, 100, 2));
    }
    const three = '{"channel":"a","data":1}';
    refusedWith('invalid_request', () =>
      readPublications(`{"publications":[${three},${three},${three}]}`, 100, 2),
    );
    const message = refusedWith('invalid_channel', () =>
      readPublications('{"publications":[{"channel":"a","data":1},{"channel":"b c","data":1}]}', 100, 2),
    );
    assert.match(message, /^publications\[1\]: /);
    assert.match(
      refusedWith('invalid_request', () =>
        readPublications('{"publications":[{"channel":"a","data":1,"data":2}]}', 100, 2),
      ),
      /^publications\[0\]: "data" is given twice/,
    );
    refusedWith('payload_too_large', () =>
      readPublications('{"publications":[{"channel":"a","data":"123456789"}]}', 10, 2),
    );
  });

  test(`in a list, data may nest ${MAX_JSON_DEPTH - 2} levels: the list and its object count`, () => {
    const listed = (depth: number) => `{"publications":[{"channel":"a","data":${nested(depth)}}]}`;
    assert.ok(readPublications(listed(MAX_JSON_DEPTH - 2), 1 << 20, 2));
    refusedWith('invalid_json', () => readPublications(listed(MAX_JSON_DEPTH - 1), 1 << 20, 2));
  });
});

describe('validatePublication', () => {
  test('the size is that of the UTF-8 text of data', () => {
    assert.ok(validatePublication('a', raw('"éééé"'), 10));
    refusedWith('payload_too_large', () => validatePublication('a', raw('"ééééé"'), 10));
    assert.ok(validatePublication('a', raw('"😀😀"'), 10));
    refusedWith('payload_too_large', () => validatePublication('a', raw('"😀😀x"'), 10));
    assert.ok(validatePublication('a', raw('"€€"'), 8));
    refusedWith('payload_too_large', () => validatePublication('a', raw('"€€"'), 7));
    refusedWith('payload_too_large', () => validatePublication('a', raw('"aaaaaaaaaaa"'), 12));
    assert.ok(validatePublication('a', raw(`"${'a'.repeat(1000)}"`), 1002));
    refusedWith('payload_too_large', () => validatePublication('a', raw(`"${'a'.repeat(1000)}"`), 1001));
  });

  test('the channel is checked before data', () => {
    refusedWith('invalid_channel', () => validatePublication('bad name', undefined, 10));
    refusedWith('invalid_request', () => validatePublication('a', undefined, 10));
  });
});

describe('publicationOfValue', () => {
  test('a JavaScript value is serialized once, then checked like every publish', () => {
    assert.deepEqual(publicationOfValue('a', { b: [1, null, 'é'] }, 100), {
      channel: 'a',
      data: '{"b":[1,null,"é"]}',
    });
    assert.deepEqual(publicationOfValue('a', null, 100), { channel: 'a', data: 'null' });
    refusedWith('payload_too_large', () => publicationOfValue('a', 'x'.repeat(100), 100));
    refusedWith('invalid_channel', () => publicationOfValue('bad name', undefined, 100));
  });

  test('what JSON cannot carry is refused as a request error, never thrown raw', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    let deep: unknown = 1;
    for (let i = 0; i < 50_000; i++) deep = [deep];
    for (const value of [undefined, () => 1, Symbol('s'), 10n, cycle, deep]) {
      refusedWith('invalid_request', () => publicationOfValue('a', value, 1 << 20));
    }
    let tooDeep: unknown = 1;
    for (let i = 0; i <= MAX_JSON_DEPTH; i++) tooDeep = [tooDeep];
    refusedWith('invalid_json', () => publicationOfValue('a', tooDeep, 1 << 20));
  });
});
