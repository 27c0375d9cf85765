import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { PushwireError } from '../protocol/index.ts';
import { Access, channelPatternMatches, grants } from './access.ts';
import type { ChannelOptions, Identity } from './types.ts';

test('* matches exactly one segment; ** as the last segment matches one or more', () => {
  const cases: [pattern: string, channel: string, matches: boolean][] = [
    ['chat:lobby', 'chat:lobby', true],
    ['chat:lobby', 'chat:lobby2', false],
    ['chat:lobby', 'chat:lobby:x', false],
    ['chat:*', 'chat:a', true],
    ['chat:*', 'chat:lobby', true],
    ['chat:*', 'chat', false],
    ['chat:*', 'chat:a:b', false],
    ['chat:*', 'chatroom:x', false],
    ['chat:*:typing', 'chat:a:typing', true],
    ['chat:*:typing', 'chat:a:b:typing', false],
    ['chat:**', 'chat:a', true],
    ['chat:**', 'chat:a:b:c', true],
    ['chat:**', 'chat', false],
    ['chat:**', 'chatroom:x', false],
    ['**', 'anything', true],
    ['**', 'ns:a:b', true],
    ['*', 'news', true],
    ['*', 'ns:news', false],
    // Only whole segments are wildcards: the old prefix form grants nothing more than its name.
    ['chat*', 'chatroom', false],
    ['chat*', 'chat:a', false],
    ['chat:**:x', 'chat:a:x', false],
    ['', 'a', false],
  ];
  for (const [pattern, channel, matches] of cases) {
    assert.equal(channelPatternMatches(pattern, channel), matches, `${pattern} vs ${channel}`);
  }
});

test('a pattern without wildcards matches its own name only', () => {
  const segment = fc.stringMatching(/^[a-z0-9_.@=-]{1,6}$/);
  const name = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(':'));
  fc.assert(
    fc.property(name, name, (pattern, channel) => {
      assert.equal(channelPatternMatches(pattern, channel), pattern === channel);
    }),
  );
});

test('grants fail closed: an empty list grants nothing, all grants everything', () => {
  assert.equal(grants([], 'a'), false);
  assert.equal(grants('all', 'a'), true);
  assert.equal(grants(['x', 'chat:*'], 'chat:b'), true);
});

const OPTIONS: ChannelOptions = {
  historySize: 10,
  historyTtlMs: null,
  clientPublish: false,
  presence: false,
};

function token(subscribe: readonly string[], publish: readonly string[] = []): Identity {
  return { userId: 'u', subscribe, publish };
}

test('a token reads what its channels claim grants, plus public namespaces; nothing without a claim', () => {
  const access = new Access((channel) =>
    channel.startsWith('news:') ? { ...OPTIONS, public: true } : OPTIONS,
  );
  const chat = token(['chat:*']);
  assert.equal(access.mayRead(chat, 'chat:a'), true);
  assert.equal(access.mayRead(chat, 'chat:a:b'), false);
  assert.equal(access.mayRead(chat, 'news:today'), true, 'a public namespace');
  const none = token([]);
  assert.equal(access.mayRead(none, 'chat:a'), false);
  assert.equal(access.mayRead(none, 'news:today'), true);
  assert.equal(access.mayRead(token(['**']), '$admin:stats'), false, "never the server's own");
  assert.throws(
    () => access.assertRead(none, 'chat:a'),
    (error) => error instanceof PushwireError && error.code === 'forbidden',
  );
});

test('the publish claim works the same way, beyond namespaces that let every client publish', () => {
  const access = new Access((channel) =>
    channel.startsWith('game:') ? { ...OPTIONS, clientPublish: true } : OPTIONS,
  );
  const writer = token([], ['chat:**']);
  assert.doesNotThrow(() => access.assertPublish(writer, 'chat:a:b'));
  assert.doesNotThrow(() => access.assertPublish(token([]), 'game:board'));
  assert.throws(
    () => access.assertPublish(writer, 'chatroom'),
    (error) => error instanceof PushwireError && error.code === 'forbidden',
  );
});
