// `pushwire serve` accepts through several descriptors of its listening socket (see
// src/server/listener-copies.ts), so a server busy with thousands of long polls still accepts
// new connections; a worker of `serve --workers` takes its connections from the primary.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LISTENER_COPIES } from '../../src/server/listener-copies.ts';
import { childrenOf, listenerDescriptors } from '../helpers/listeners.ts';
import { startPushwire } from '../helpers/server.ts';

describe('the listening socket', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('a standalone server listens through its copies, and every connection through them is served', async () => {
    const server = await startPushwire();
    try {
      assert.equal(listenerDescriptors(server.pid, server.port), 1 + LISTENER_COPIES);
      // The process that made the copies is gone, and kept none.
      assert.deepEqual(childrenOf(server.pid), []);

      const answers = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const response = await fetch(`${server.url}/poll?channel=listener-${i % 5}`);
          return { status: response.status, body: await response.text() };
        }),
      );
      for (const { status, body } of answers) {
        assert.equal(status, 200);
        assert.match(body, /"cursor":"/);
      }
      const published = await server.publish('listener-0', 'after');
      assert.equal(published.offset, 1);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  test('with --workers the primary accepts: it holds the socket once and the workers hold none', async () => {
    const server = await startPushwire({ args: ['--workers', '2'], startTimeoutMs: 60_000 });
    try {
      assert.equal(listenerDescriptors(server.pid, server.port), 1);
      const workers = childrenOf(server.pid);
      assert.equal(workers.length, 2);
      for (const worker of workers) assert.equal(listenerDescriptors(worker, server.port), 0);
      const response = await fetch(`${server.url}/poll?channel=listener-workers`);
      assert.equal(response.status, 200);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
