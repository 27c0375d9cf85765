import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './index.ts';

const SECRET = 'k'.repeat(32);

function problemsOf(argv: string[], env: Record<string, string> = {}): readonly string[] {
  try {
    loadConfig({ argv, env });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  return [];
}

describe('hook options', () => {
  it('are taken with a secret of 32 bytes or more', () => {
    const config = loadConfig({
      argv: ['--hook-url', 'https://app.example/hooks?key=1', '--hook-secret', SECRET, '--no-hooks'],
      env: {},
    });
    assert.equal(config.hookUrl, 'https://app.example/hooks?key=1');
    assert.equal(config.hooks, false);
  });

  it('need the signing secret, long enough, and never show it or the URL', () => {
    assert.deepEqual(problemsOf(['--connect-hook-url', 'http://127.0.0.1:9/connect']), [
      '--connect-hook-url: hooks need --hook-secret (at least 32 bytes): every hook request is signed with it',
    ]);
    const short = problemsOf(['--hook-url', 'http://127.0.0.1:9/e', '--hook-secret', 'short-secret']);
    assert.deepEqual(short, [
      '--hook-secret: the value is too short (use at least 32 bytes, e.g. openssl rand -hex 32)',
    ]);
    const bad = problemsOf(['--hook-url', 'ftp://user:pw@host/x', '--hook-secret', SECRET]);
    assert.deepEqual(bad, ['--hook-url: the value is not an http:// or https:// URL']);
  });

  it('refuse a channel that asks a hook without its URL, naming every place that asks', () => {
    const problems = problemsOf(['--hook-secret', SECRET, '--publish-hook'], {
      PUSHWIRE_NAMESPACES: '{"chat":{"subscribeHook":true},"game":{"publishHook":true}}',
    });
    assert.deepEqual(problems, [
      'namespaces.chat.subscribeHook: subscribeHook is on, but --subscribe-hook-url is not set',
      '--publish-hook: publishHook is on, but --publish-hook-url is not set',
    ]);
  });
});
