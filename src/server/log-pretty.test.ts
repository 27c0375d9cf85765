import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prettyLine, wantsColor } from './log-pretty.ts';

const time = new Date(2026, 0, 2, 14, 2, 7, 41).getTime();

test('one line: time, level, message, then the other fields as key=value', () => {
  const json = JSON.stringify({
    level: 30,
    time,
    pid: 1,
    hostname: 'h',
    msg: 'demo on',
    namespace: 'game',
    n: 2,
  });
  assert.equal(prettyLine(json, false), '14:02:07.041 INFO  demo on namespace=game n=2\n');
  const spaced = JSON.stringify({ level: 40, time, msg: 'x', reason: 'two words' });
  assert.equal(prettyLine(spaced, false), '14:02:07.041 WARN  x reason="two words"\n');
});

test('an error adds its message; only error level and above add the stack', () => {
  const err = { type: 'Error', message: 'boom', stack: 'Error: boom\n    at f (a.js:1:1)' };
  assert.equal(
    prettyLine(JSON.stringify({ level: 40, time, msg: 'publish failed', err }), false),
    '14:02:07.041 WARN  publish failed: boom\n',
  );
  assert.equal(
    prettyLine(JSON.stringify({ level: 50, time, msg: 'shutdown failed', err }), false),
    '14:02:07.041 ERROR shutdown failed: boom\n    at f (a.js:1:1)\n',
  );
});

test('colours only when asked; anything but JSON passes through', () => {
  const line = prettyLine(JSON.stringify({ level: 50, time, msg: 'x' }), true);
  assert.ok(line.endsWith('\u001b[31mERROR\u001b[0m x\n'), JSON.stringify(line));
  assert.equal(prettyLine('not json', true), 'not json\n');
  assert.equal(wantsColor({ isTTY: true }, {}), true);
  assert.equal(wantsColor({ isTTY: false }, {}), false);
  assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '1' }), false);
  assert.equal(wantsColor({ isTTY: false }, { FORCE_COLOR: '1' }), true);
  assert.equal(wantsColor({ isTTY: true }, { FORCE_COLOR: '0' }), false);
});
