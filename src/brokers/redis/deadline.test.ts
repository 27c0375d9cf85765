import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { CommandTimeoutError, withDeadline } from './deadline.ts';

/** Blocks the event loop, as a node does while it fans a burst of messages out. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/** A loopback socket pair: what one end writes is I/O for the other, as a Redis reply is. */
async function socketPair(): Promise<{ client: Socket; server: Socket; close(): void }> {
  const listener = createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as { port: number };
  const accepted = once(listener, 'connection');
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = (await accepted) as [Socket];
  return {
    client,
    server,
    close() {
      client.destroy();
      server.destroy();
      listener.close();
    },
  };
}

describe('withDeadline', () => {
  it('settles like the work when it is in time', async () => {
    assert.equal(await withDeadline(Promise.resolve(7), 50), 7);
    await assert.rejects(withDeadline(Promise.reject(new Error('no')), 50), /no/);
  });

  it('rejects with CommandTimeoutError when there is no answer', async () => {
    const never = new Promise<never>(() => {});
    await assert.rejects(withDeadline(never, 20), CommandTimeoutError);
  });

  it('lets an answer that arrived while the event loop was blocked win over the late timer', async () => {
    const pair = await socketPair();
    try {
      const answered = once(pair.client, 'data').then(([chunk]) => String(chunk));
      const result = withDeadline(answered, 20);
      pair.server.write('OK');
      // The answer lands in the socket's buffer while the loop is busy past the deadline.
      busy(100);
      assert.equal(await result, 'OK');
    } finally {
      pair.close();
    }
  });
});
