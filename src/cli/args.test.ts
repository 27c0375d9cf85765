import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { parseFlags, serverUrl, UsageError } from './args.ts';

const FLAGS = { url: {}, 'api-key': { env: 'PUSHWIRE_TEST_ARGS_KEY' } };

describe('parseFlags', () => {
  afterEach(() => {
    delete process.env.PUSHWIRE_TEST_ARGS_KEY;
  });

  test('reads --flag value, --flag=value, positionals (negative numbers too) and -h', () => {
    const parsed = parseFlags(['c', '--url', 'http://a', '-5', '--api-key=k', '-h'], FLAGS);
    assert.deepEqual(parsed, {
      positionals: ['c', '-5'],
      values: { url: 'http://a', 'api-key': 'k' },
      help: true,
    });
    assert.deepEqual(parseFlags(['--', '--url'], FLAGS).positionals, ['--url']);
  });

  test('a flag wins over its environment variable; an empty variable is unset', () => {
    process.env.PUSHWIRE_TEST_ARGS_KEY = 'from-env';
    assert.equal(parseFlags([], FLAGS).values['api-key'], 'from-env');
    assert.equal(parseFlags(['--api-key', 'flag'], FLAGS).values['api-key'], 'flag');
    process.env.PUSHWIRE_TEST_ARGS_KEY = '';
    assert.equal(parseFlags([], FLAGS).values['api-key'], undefined);
  });

  test('an unknown flag is refused with the nearest known one', () => {
    assert.throws(
      () => parseFlags(['--ulr', 'x'], FLAGS),
      new UsageError('unknown flag --ulr (did you mean --url?)'),
    );
    assert.throws(
      () => parseFlags(['--api-kye=x'], FLAGS),
      /unknown flag --api-kye \(did you mean --api-key\?\)/,
    );
    assert.throws(() => parseFlags(['-x'], FLAGS), /^UsageError: unknown flag -x$/);
    assert.throws(() => parseFlags(['--url'], FLAGS), /--url needs a value/);
    assert.throws(() => parseFlags(['--url', '--api-key', 'k'], FLAGS), /--url needs a value/);
  });
});

describe('serverUrl', () => {
  afterEach(() => {
    delete process.env.PUSHWIRE_URL;
  });

  test('adds a missing http:// and says so', () => {
    assert.deepEqual(serverUrl('localhost:8080'), {
      url: 'http://localhost:8080',
      note: '--url localhost:8080 has no scheme: using http://localhost:8080',
    });
    assert.deepEqual(serverUrl('127.0.0.1:3000/push/'), {
      url: 'http://127.0.0.1:3000/push',
      note: '--url 127.0.0.1:3000/push/ has no scheme: using http://127.0.0.1:3000/push',
    });
  });

  test('takes http(s), maps ws(s) to it, and refuses other schemes', () => {
    assert.deepEqual(serverUrl('https://push.example.com/'), { url: 'https://push.example.com' });
    assert.deepEqual(serverUrl('ws://localhost:8080'), { url: 'http://localhost:8080' });
    assert.throws(() => serverUrl('ftp://host'), /--url: ftp:\/\/host is not an http:\/\/ or https:\/\/ URL/);
    assert.throws(() => serverUrl('http://a b'), /is not a URL/);
  });

  test('falls back to PUSHWIRE_URL, then to http://localhost:8080', () => {
    assert.deepEqual(serverUrl(undefined), { url: 'http://localhost:8080' });
    process.env.PUSHWIRE_URL = 'localhost:9000';
    assert.equal(
      serverUrl(undefined).note,
      'PUSHWIRE_URL localhost:9000 has no scheme: using http://localhost:9000',
    );
  });
});
