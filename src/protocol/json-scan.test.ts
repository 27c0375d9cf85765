import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MAX_JSON_DEPTH, scanJsonObject, scanJsonObjectList, scanJsonValue } from './json-scan.ts';

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const nested = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);

describe('scanJsonValue', () => {
  test('valid JSON comes back token for token', () => {
    const texts = [
      '0',
      '-0',
      '1e999',
      '-1E-7',
      '0.5e+3',
      '12345678901234567890123',
      '-12345678901234567890123.000000000000000000001',
      '"\\ud800"',
      '"\\uDC00\\ud800"',
      '"\\u00e9\\n\\/\\"\\\\\\b\\f\\r\\t"',
      '"é 😀 \u2028"',
      '""',
      'true',
      'false',
      'null',
      '[]',
      '{}',
      '[[],{},[{}]]',
      '{"":1,"a":{"b":[true,null,"c"]}}',
      '{"z":1,"a":2,"z":3}',
    ];
    for (const text of texts) {
      assert.ok(parses(text), text);
      assert.deepEqual(scanJsonValue(text), { ok: true, value: text }, text);
    }
  });

  test('whitespace around a value is dropped; between tokens only line breaks are', () => {
    assert.deepEqual(scanJsonValue(' \t\r\n1 \n'), { ok: true, value: '1' });
    assert.deepEqual(scanJsonValue('{ "a b" : [ 1 ,\r\n\t"x \\" y" ] ,"c":{ } }'), {
      ok: true,
      value: '{ "a b" : [ 1 ,\t"x \\" y" ] ,"c":{ } }',
    });
  });

  test('invalid JSON is refused with a reason, as JSON.parse refuses it', () => {
    const texts = [
      '',
      ' ',
      '01',
      '-',
      '-a',
      '1.',
      '.5',
      '1.e3',
      '1e',
      '1e+',
      '+1',
      '0x1',
      'NaN',
      'Infinity',
      '-Infinity',
      'tru',
      'nul',
      'nulll',
      'True',
      '[1,]',
      '[,1]',
      '[1 2]',
      '{"a":1,}',
      '{"a"}',
      '{"a":}',
      '{"a" 1}',
      '{a:1}',
      '{1:1}',
      "'a'",
      '"\\x41"',
      '"\\u12"',
      '"\\u12G4"',
      '"\\',
      '"\\"',
      '"a\nb"',
      '"\t"',
      '"\u0000"',
      '"unterminated',
      '{"a":1}}',
      '[',
      ']',
      '{',
      '}',
      '{} {}',
      '1 2',
      '\uFEFF{}',
      '\u00a01',
      '1\u000b',
      '/* */1',
      '[1]x',
      '[1]\u0000',
    ];
    for (const text of texts) {
      assert.ok(!parses(text), `JSON.parse accepts ${JSON.stringify(text)}`);
      const scanned = scanJsonValue(text);
      assert.ok(!scanned.ok, `scanner accepts ${JSON.stringify(text)}`);
      assert.match(scanned.reason, /^unexpected (end of input|\S+ at position \d+)$/, text);
    }
  });

  test('reasons name the character and where it is', () => {
    assert.deepEqual(scanJsonValue('[1,]'), { ok: false, reason: 'unexpected "]" at position 3' });
    assert.deepEqual(scanJsonValue('\uFEFF1'), { ok: false, reason: 'unexpected U+FEFF at position 0' });
    assert.deepEqual(scanJsonValue('{"a":'), { ok: false, reason: 'unexpected end of input' });
  });

  test('every proper prefix of a JSON object is refused (truncated input)', () => {
    const text = '{"a":[1,-2.5e3,{"b":"c\\u0041\\n"}],"d":true,"e":null,"f":false}';
    assert.ok(scanJsonValue(text).ok);
    for (let end = 0; end < text.length; end++) {
      assert.ok(!scanJsonValue(text.slice(0, end)).ok, text.slice(0, end));
    }
  });

  test(`nesting is allowed up to ${MAX_JSON_DEPTH} levels and refused past it`, () => {
    assert.ok(scanJsonValue(nested(MAX_JSON_DEPTH)).ok);
    assert.ok(scanJsonValue(`{"a":${nested(MAX_JSON_DEPTH - 1)}}`).ok);
    const past = scanJsonValue(nested(MAX_JSON_DEPTH + 1));
    assert.deepEqual(past, {
      ok: false,
      reason: `nested deeper than ${MAX_JSON_DEPTH} levels at position 100`,
    });
    assert.ok(!scanJsonValue(`{"a":${nested(MAX_JSON_DEPTH)}}`).ok);
    assert.ok(scanJsonValue(nested(3), 3).ok);
    assert.ok(!scanJsonValue(nested(4), 3).ok);
    assert.ok(scanJsonValue('1', 0).ok && !scanJsonValue('[]', 0).ok);
  });

  test('no depth makes the scanner overflow its stack', () => {
    for (const text of [nested(20_000), '['.repeat(1_000_000), '{"a":'.repeat(200_000)]) {
      const scanned = scanJsonValue(text, Number.POSITIVE_INFINITY);
      assert.equal(scanned.ok, parses(text));
      assert.ok(!scanJsonValue(text).ok);
    }
  });
});

describe('scanJsonObject', () => {
  test('top-level fields come back as raw text, keys decoded', () => {
    const scanned = scanJsonObject(
      '{"channel":"a","d\\u0061ta":{"big":12345678901234567890123,"x":1e999,"k2":1,"k1":2},"n":-0}',
    );
    assert.ok(scanned.ok && scanned.value);
    assert.deepEqual(
      [...scanned.value.fields],
      [
        ['channel', '"a"'],
        ['data', '{"big":12345678901234567890123,"x":1e999,"k2":1,"k1":2}'],
        ['n', '-0'],
      ],
    );
    assert.equal(scanned.value.duplicateKey, null);
  });

  test('each field keeps its own spacing, and none of the spacing around it', () => {
    const scanned = scanJsonObject('{ "a" : [ 1 ] , "b":[2],"c" :3 ,"d": {\n "e" : "f g" } }');
    assert.ok(scanned.ok && scanned.value);
    assert.deepEqual(Object.fromEntries(scanned.value.fields), {
      a: '[ 1 ]',
      b: '[2]',
      c: '3',
      d: '{ "e" : "f g" }',
    });
  });

  test('a repeated top-level key keeps its last value (as JSON.parse) and is reported', () => {
    const scanned = scanJsonObject('{"a":1,"b":{"x":1,"x":2},"a":2,"b":3,"a":4}');
    assert.ok(scanned.ok && scanned.value);
    assert.deepEqual(Object.fromEntries(scanned.value.fields), { a: '4', b: '3' });
    assert.equal(scanned.value.duplicateKey, 'a');
    const escaped = scanJsonObject('{"a":1,"\\u0061":2}');
    assert.ok(escaped.ok && escaped.value?.duplicateKey === 'a');
    const nestedOnly = scanJsonObject('{"b":{"x":1,"x":2}}');
    assert.ok(nestedOnly.ok && nestedOnly.value?.duplicateKey === null);
  });

  test('valid JSON that is not an object has no fields', () => {
    for (const text of ['[{"a":1}]', '"a"', '1', 'null', ' [] ']) {
      assert.deepEqual(scanJsonObject(text), { ok: true, value: null }, text);
    }
  });

  test('the depth limit applies to each field, not counting the object around them', () => {
    assert.ok(scanJsonObject(`{"data":${nested(MAX_JSON_DEPTH)}}`).ok);
    const past = scanJsonObject(`{"channel":"a","data":${nested(MAX_JSON_DEPTH + 1)}}`);
    assert.ok(!past.ok && past.reason.startsWith(`nested deeper than ${MAX_JSON_DEPTH} levels`));
    assert.ok(!scanJsonObject(nested(MAX_JSON_DEPTH + 1)).ok, 'a top-level array gets no extra level');
  });
});

describe('scanJsonObjectList', () => {
  const fieldsOf = (text: string) => {
    const scanned = scanJsonObjectList(text);
    assert.ok(scanned.ok, text);
    return scanned.value?.map(({ fields, duplicateKey }) => ({
      ...Object.fromEntries(fields),
      duplicateKey,
    }));
  };

  test('each object of a top-level array comes back with its members as raw text', () => {
    assert.deepEqual(
      fieldsOf('[{"channel":"a","data":1e999},{ "data" : { "b" : [ 1 ] } ,"x":{"y":2}}, {} ]'),
      [
        { channel: '"a"', data: '1e999', duplicateKey: null },
        { data: '{ "b" : [ 1 ] }', x: '{"y":2}', duplicateKey: null },
        { duplicateKey: null },
      ],
    );
    assert.deepEqual(fieldsOf('[{"a":1,"a":2}]'), [{ a: '2', duplicateKey: 'a' }]);
    assert.deepEqual(fieldsOf(' [ ] '), []);
  });

  test('anything but an array of objects has no list', () => {
    for (const text of ['{"a":1}', '[{"a":1},2]', '[[{"a":1}]]', '[null]', '"[]"', '1']) {
      assert.deepEqual(scanJsonObjectList(text), { ok: true, value: null }, text);
    }
    assert.ok(!scanJsonObjectList('[{"a":1},]').ok);
  });

  test('the depth limit applies to the members, not counting the array and objects around them', () => {
    assert.ok(scanJsonObjectList(`[{"a":1},{"data":${nested(MAX_JSON_DEPTH)}}]`).ok);
    assert.ok(!scanJsonObjectList(`[{"a":1},{"data":${nested(MAX_JSON_DEPTH + 1)}}]`).ok);
    assert.ok(!scanJsonObjectList(nested(MAX_JSON_DEPTH + 3)).ok);
  });
});

// Strings near the grammar: JSON texts with one character changed, inserted or removed, and
// soups of the characters JSON is made of.
const JSON_CHARS = [...'{}[],:"\\/ \t\n\r0123456789-+.eEtrufalsnbx', '\u0000', '\u001f', '\u00e9', '\ud800'];
const nearJson = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom(...JSON_CHARS), maxLength: 40 }),
  fc
    .tuple(
      fc.json(),
      fc.nat(),
      fc.constantFrom(...JSON_CHARS),
      fc.constantFrom('replace', 'insert', 'delete'),
    )
    .map(([text, at, c, edit]) => {
      const i = at % (text.length + 1);
      if (edit === 'insert') return text.slice(0, i) + c + text.slice(i);
      return text.slice(0, i) + (edit === 'replace' ? c : '') + text.slice(i + 1);
    }),
);

describe('properties', () => {
  test('any JSON value: the scanner accepts its text and data comes back as that exact slice', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 20 }), (value) => {
        const data = JSON.stringify(value);
        assert.deepEqual(scanJsonValue(data), { ok: true, value: data });
        for (const body of [JSON.stringify({ channel: 'a', data: value, after: [1] }), `{"data":${data}}`]) {
          const scanned = scanJsonObject(body);
          assert.ok(scanned.ok && scanned.value, body);
          assert.equal(scanned.value.fields.get('data'), data, body);
        }
        // Pretty-printed: the same value, with its spacing but without its line breaks.
        for (const indent of [2, '\t']) {
          const body = JSON.stringify({ data: value, channel: 'a' }, null, indent);
          const scanned = scanJsonObject(body);
          assert.ok(scanned.ok && scanned.value, body);
          const raw = scanned.value.fields.get('data')!;
          assert.doesNotMatch(raw, /[\r\n]/);
          assert.equal(JSON.stringify(JSON.parse(raw)), data, body);
          assert.equal(raw.replace(/\s+(?=(?:[^"\\]|\\.|"(?:[^"\\]|\\.)*")*$)/g, ''), data, body);
        }
      }),
      { numRuns: 500 },
    );
  });

  test('any list of publications: every data comes back as its exact text', () => {
    const publication = fc.record({ channel: fc.string(), data: fc.jsonValue({ maxDepth: 10 }) });
    fc.assert(
      fc.property(
        fc.array(publication, { maxLength: 8 }),
        fc.constantFrom(undefined, 1, '\t'),
        (list, indent) => {
          const scanned = scanJsonObjectList(JSON.stringify(list, null, indent));
          assert.ok(scanned.ok && scanned.value);
          assert.deepEqual(
            scanned.value.map(({ fields }) => [
              fields.get('channel'),
              JSON.stringify(JSON.parse(fields.get('data')!)),
            ]),
            list.map(({ channel, data }) => [JSON.stringify(channel), JSON.stringify(data)]),
          );
          for (const { fields } of scanned.value) assert.doesNotMatch(fields.get('data')!, /[\r\n]/);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('any JSON text keeps its tokens: raw text parses to what the text parses to', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 20 }), (text) => {
        const scanned = scanJsonValue(text);
        assert.ok(scanned.ok);
        assert.equal(scanned.value, text, 'fast-check writes JSON without whitespace');
        assert.deepEqual(JSON.parse(scanned.value), JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  test('any string: the scanner never throws and agrees with JSON.parse (no depth limit)', () => {
    fc.assert(
      fc.property(nearJson, (text) => {
        const scanned = scanJsonValue(text, Number.POSITIVE_INFINITY);
        assert.equal(scanned.ok, parses(text), JSON.stringify(text));
        if (scanned.ok) assert.deepEqual(JSON.parse(scanned.value), JSON.parse(text));
        const object = scanJsonObject(text, Number.POSITIVE_INFINITY);
        assert.equal(object.ok, parses(text), JSON.stringify(text));
        assert.equal(
          scanJsonObjectList(text, Number.POSITIVE_INFINITY).ok,
          parses(text),
          JSON.stringify(text),
        );
        scanJsonObject(text);
      }),
      { numRuns: 3000 },
    );
  });
});
