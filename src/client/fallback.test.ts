import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FallbackPlan } from './fallback.ts';
import { type ClientTransport, DOWNSTREAM_ONLY } from './transports/types.ts';
import type { TransportName } from './types.ts';

const transport = (name: TransportName): ClientTransport => ({
  name,
  capabilities: DOWNSTREAM_ONLY,
  supported: () => true,
  open: () => {
    throw new Error('not opened in this test');
  },
});
const plan = () =>
  new FallbackPlan(['websocket', 'sse', 'longpoll'].map((n) => transport(n as TransportName)));

test('a transport that never opened is left after one failure, in the configured order', () => {
  const p = plan();
  assert.equal(p.current.name, 'websocket');
  assert.equal(p.failed(), true);
  assert.equal(p.current.name, 'sse');
  assert.equal(p.degraded, true);
  assert.equal(p.failed(), true);
  assert.equal(p.current.name, 'longpoll');
  assert.equal(p.failed(), false, 'wrapping around to the first one waits a backoff');
  assert.equal(p.current.name, 'websocket');
});

test('a transport that worked is kept through a brief outage, and left when it keeps failing', () => {
  const p = plan();
  p.opened();
  assert.equal(p.failed(), false);
  assert.equal(p.failed(), false);
  assert.equal(p.current.name, 'websocket');
  assert.equal(p.failed(), true);
  assert.equal(p.current.name, 'sse');
});

test('an upgrade that opened makes its transport the current one again', () => {
  const p = plan();
  p.failed();
  p.opened();
  assert.equal(p.current.name, 'sse');
  p.opened(p.transports[0]);
  assert.equal(p.current.name, 'websocket');
  assert.equal(p.degraded, false);
});
