import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatByteSize, formatDuration, parseByteSize, parseDuration } from './units.ts';

describe('parseDuration', () => {
  it('reads plain milliseconds and each unit', () => {
    assert.equal(parseDuration('15000'), 15_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('15s'), 15_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1.5s'), 1_500);
    assert.equal(parseDuration(' 20 s '), 20_000);
    assert.equal(parseDuration('0'), 0);
  });

  it('refuses what is not a whole number of milliseconds', () => {
    for (const text of ['', 'abc', '15x', '-1s', '1.5', '0.5ms', 's', '1e3', '15S', '1s2', 'off']) {
      assert.equal(parseDuration(text), undefined, text);
    }
  });

  it('reads back every duration it formats', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (ms) => {
        assert.equal(parseDuration(formatDuration(ms)), ms);
      }),
    );
  });

  it('scales every whole amount by its unit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.constantFrom(['ms', 1], ['s', 1e3], ['m', 6e4], ['h', 3.6e6]),
        (n, [unit, size]) => {
          assert.equal(parseDuration(`${n}${unit}`), n * (size as number));
        },
      ),
    );
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const ms = parseDuration(text);
        assert.ok(ms === undefined || (Number.isSafeInteger(ms) && ms >= 0));
      }),
    );
  });

  it('formats with the largest exact unit', () => {
    assert.equal(formatDuration(15_000), '15s');
    assert.equal(formatDuration(300_000), '5m');
    assert.equal(formatDuration(7_200_000), '2h');
    assert.equal(formatDuration(1_500), '1500ms');
    assert.equal(formatDuration(0), '0');
  });
});

describe('parseByteSize', () => {
  it('reads plain bytes and each unit, in any case', () => {
    assert.equal(parseByteSize('65536'), 65_536);
    assert.equal(parseByteSize('64kb'), 65_536);
    assert.equal(parseByteSize('64KB'), 65_536);
    assert.equal(parseByteSize('1mb'), 1_048_576);
    assert.equal(parseByteSize('1MiB'), 1_048_576);
    assert.equal(parseByteSize('1gb'), 1_073_741_824);
    assert.equal(parseByteSize('512b'), 512);
    assert.equal(parseByteSize('1.5kb'), 1_536);
  });

  it('refuses what is not a whole number of bytes', () => {
    for (const text of ['', 'big', '64k', '-1kb', '1.5', '0.3b', '1tb', 'kb']) {
      assert.equal(parseByteSize(text), undefined, text);
    }
  });

  it('reads back every size it formats', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (bytes) => {
        assert.equal(parseByteSize(formatByteSize(bytes)), bytes);
      }),
    );
  });

  it('never throws, whatever the text', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const bytes = parseByteSize(text);
        assert.ok(bytes === undefined || (Number.isSafeInteger(bytes) && bytes >= 0));
      }),
    );
  });

  it('formats with the largest exact unit', () => {
    assert.equal(formatByteSize(65_536), '64kb');
    assert.equal(formatByteSize(1_048_576), '1mb');
    assert.equal(formatByteSize(1_000), '1000');
  });
});
