import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grants } from '../../core/index.ts';
import { PushwireError } from '../../protocol/index.ts';
import { InvalidAnswer, identityFromAnswer } from './app-identity.ts';

test('an answer gives the rights a token would: channels exact or by pattern, publish, expiry', () => {
  const now = 1_700_000_000_000;
  const identity = identityFromAnswer(
    { user: 'u1', channels: ['news', 'chat:*'], publish: ['chat:*'], expiresAt: 1_700_000_060 },
    now,
  );
  assert.equal(identity.userId, 'u1');
  assert.equal(grants(identity.subscribe, 'news'), true);
  assert.equal(grants(identity.subscribe, 'news2'), false);
  assert.equal(grants(identity.subscribe, 'chat:lobby'), true);
  assert.equal(grants(identity.subscribe, 'chat:lobby:x'), false);
  assert.equal(grants(identity.publish, 'chat:lobby'), true);
  assert.equal(grants(identity.publish, 'news'), false);
  assert.equal(identity.expiresAt, 1_700_000_060_000);
});

test('an empty answer is an anonymous client that may subscribe anywhere and publish nowhere extra', () => {
  const identity = identityFromAnswer({});
  assert.equal(identity.userId, null);
  assert.equal(grants(identity.subscribe, 'anything'), true);
  assert.equal(grants(identity.publish, 'anything'), false);
  assert.equal(identity.expiresAt, null);
});

test('a malformed answer is the application’s bug; an expired one refuses the client', () => {
  assert.throws(() => identityFromAnswer({ user: 5 }), InvalidAnswer);
  assert.throws(() => identityFromAnswer({ channels: 'news' }), InvalidAnswer);
  assert.throws(() => identityFromAnswer({ channels: null }), InvalidAnswer);
  assert.throws(() => identityFromAnswer({ expiresAt: '2030' }), InvalidAnswer);
  assert.throws(
    () => identityFromAnswer({ expiresAt: 1 }),
    (error) => error instanceof PushwireError && error.code === 'token_expired',
  );
});
