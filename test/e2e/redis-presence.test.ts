import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { openRawClient, type RawClient } from '../helpers/clients.ts';
import { AsyncQueue } from '../helpers/queue.ts';
import { cleanPrefix, redisUrl, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

interface PresenceClient {
  readonly clientId: string;
  readonly userId: string | null;
  readonly connectedAt: number;
}

/** A WebSocket that asks a node who is on a channel, with `{"op":"presence"}`. */
async function presenceAsker(node: RunningPushwire) {
  const ws = new WebSocket(`${node.url.replace(/^http/, 'ws')}/ws`);
  const frames = new AsyncQueue<Record<string, unknown>>();
  ws.on('message', (raw) => frames.push(JSON.parse(raw.toString()) as Record<string, unknown>));
  await once(ws, 'open');
  let id = 0;
  return {
    async list(channel: string): Promise<string[]> {
      const asked = ++id;
      ws.send(JSON.stringify({ id: asked, op: 'presence', channel }));
      const reply = await frames.nextMatching((frame) => frame.id === asked, 5_000, 'the presence reply');
      assert.equal(reply.op, 'reply', JSON.stringify(reply));
      return (reply.clients as PresenceClient[]).map((client) => client.clientId).sort();
    },
    close: () => ws.terminate(),
  };
}

/** The clientId a node gave a raw client, from its `connected` event. */
async function clientIdOf(client: RawClient): Promise<string> {
  const event = await client.events.nextMatching((e) => e.type === 'connected', 5_000, 'connected');
  const clientId = (event as { clientId?: unknown }).clientId;
  assert.equal(typeof clientId, 'string');
  return clientId as string;
}

describe('redis: presence across nodes', () => {
  const prefix = uniquePrefix();
  let b: RunningPushwire;
  let c: RunningPushwire;
  const open: { close(): void }[] = [];

  before(async () => {
    const args = [
      ...['--broker', 'redis', '--redis-url', redisUrl(), '--redis-prefix', prefix],
      ...['--presence', '--presence-ttl', '3s'],
    ];
    [b, c] = await Promise.all([startPushwire({ args }), startPushwire({ args })]);
  });
  after(async () => {
    for (const opened of open) opened.close();
    await Promise.all([b, c].map((node) => node?.stop()));
    await cleanPrefix(prefix);
  });

  test('a client on B is seen from C, and expires from presence once B is killed', async (t) => {
    const channel = 'room';
    const onB = openRawClient('websocket', b.url, { channels: [channel] });
    const onC = openRawClient('websocket', c.url, { channels: [channel] });
    open.push(onB, onC);
    const [idB, idC] = await Promise.all([clientIdOf(onB), clientIdOf(onC)]);
    await Promise.all([onB.ready, onC.ready]);
    const asker = await presenceAsker(c);
    open.push(asker);

    // A node records presence beside the subscription, not before its reply: ask until both show.
    const both = [idB, idC].sort();
    const seenBy = Date.now() + 5_000;
    while (JSON.stringify(await asker.list(channel)) !== JSON.stringify(both)) {
      if (Date.now() > seenBy)
        assert.deepEqual(await asker.list(channel), both, 'C sees the clients of both nodes');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    await b.stop('SIGKILL');
    const killedAt = performance.now();
    // Nobody told Redis that B's client left: it stays listed until its entry expires.
    assert.deepEqual(await asker.list(channel), both, 'still listed right after the kill');
    const deadline = Date.now() + 10_000;
    let listed = await asker.list(channel);
    while (listed.includes(idB)) {
      if (Date.now() > deadline) throw new Error(`B's client still listed 10 s after the kill: ${listed}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      listed = await asker.list(channel);
    }
    t.diagnostic(`B's client expired ${Math.round(performance.now() - killedAt)} ms after the kill`);
    assert.deepEqual(listed, [idC], "C's own client stays: C refreshes it");
  });
});
