import assert from 'node:assert/strict';
import { test } from 'node:test';
import { grants } from '../../core/index.ts';
import { OPERATOR_TOKEN_TTL_MS, OperatorTokens } from './operator-tokens.ts';

const KEY = 'an-admin-key-of-some-length';

test('a token the dashboard gets reads the server channels only, until it expires', () => {
  const tokens = new OperatorTokens(KEY);
  const { token, expiresAt } = tokens.issue(1_000_000);
  assert.equal(expiresAt, 1_000_000 + OPERATOR_TOKEN_TTL_MS);
  assert.ok(!token.includes(KEY));
  const identity = tokens.identify(token, 1_000_001);
  assert.ok(identity);
  assert.equal(identity.system, true);
  assert.equal(grants(identity.subscribe, '$admin:stats'), true);
  assert.equal(grants(identity.subscribe, 'chat:lobby'), false);
  assert.equal(grants(identity.publish, '$admin:stats'), false);
  assert.equal(tokens.identify(token, expiresAt), null, 'expired');
});

test('a token of another admin key, a changed one or a JWT is not an operator token', () => {
  const { token } = new OperatorTokens(KEY).issue();
  assert.equal(new OperatorTokens(`${KEY}-rotated`).identify(token), null);
  const later = token.replace(/^pwop1\.(\d+)/, (_, at: string) => `pwop1.${Number(at) + 1000}`);
  assert.equal(new OperatorTokens(KEY).identify(later), null);
  assert.equal(new OperatorTokens(KEY).identify('eyJhbGciOiJIUzI1NiJ9.e30.sig'), null);
  assert.equal(new OperatorTokens(KEY).identify('pwop1.'), null);
});
