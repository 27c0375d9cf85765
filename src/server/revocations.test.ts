import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalCluster } from '../brokers/index.ts';
import { PushwireError } from '../protocol/index.ts';
import { Revocations } from './revocations.ts';

test("a revoked user's tokens issued up to the second of the revocation are refused, later ones not", async () => {
  const revocations = new Revocations(new LocalCluster(), 60_000, () => {});
  const at = Date.now();
  const second = Math.floor(at / 1000);
  await revocations.revoke('alice', at);
  assert.equal(revocations.isRevoked('alice', second - 10), true);
  assert.equal(revocations.isRevoked('alice', second), true, 'the same second may be earlier');
  assert.equal(revocations.isRevoked('alice', undefined), true, 'no iat: as old as can be');
  assert.equal(revocations.isRevoked('alice', second + 1), false);
  assert.equal(revocations.isRevoked('bob', second - 10), false);
  assert.throws(
    () => revocations.assertNotRevoked('alice', second),
    (error: unknown) => error instanceof PushwireError && error.code === 'disconnected',
  );
});

test('revocations made elsewhere are learned from the store at start and from the bus; the latest wins', async () => {
  const cluster = new LocalCluster();
  const now = Date.now();
  await cluster.revocations.add('carol', now - 5000, 60_000);
  const revocations = new Revocations(cluster, 60_000, () => {});
  await revocations.start();
  try {
    assert.equal(revocations.isRevoked('carol', Math.floor((now - 6000) / 1000)), true);
    revocations.learn('dave', now);
    revocations.learn('dave', now - 60_000);
    assert.equal(revocations.isRevoked('dave', Math.floor(now / 1000)), true);
  } finally {
    revocations.stop();
  }
});

test('a revocation older than its TTL no longer refuses anything', () => {
  const revocations = new Revocations(new LocalCluster(), 1000, () => {});
  revocations.learn('erin', Date.now() - 5000);
  assert.equal(revocations.isRevoked('erin', undefined), false);
});
