import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  openRawClient,
  type RawClient,
  TRANSPORTS,
  type TransportKind,
  takeMessages,
} from '../helpers/clients.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

/**
 * What every transport promises (docs/protocol.md), run against each of the four with its
 * real client: ordered, consecutive offsets on one channel and on several, a cursor on every
 * message, a first `connected` event, and the same message whatever the transport.
 */
export function transportContract(kinds: readonly TransportKind[] = TRANSPORTS): void {
  let server: RunningPushwire;
  const open: RawClient[] = [];
  const client = (kind: TransportKind, channels: string[], cursor?: string | null) => {
    const c = openRawClient(kind, server.url, { channels, cursor: cursor ?? null });
    open.push(c);
    return c;
  };

  before(async () => {
    server = await startPushwire({ args: ['--heartbeat-interval', '1s'] });
  });
  after(async () => {
    for (const c of open) c.close();
    await server.stop();
  });

  for (const kind of kinds) {
    describe(kind, () => {
      test('delivers messages in order with consecutive offsets', async () => {
        const channel = `order-${kind}`;
        const subscriber = client(kind, [channel]);
        const connected = await subscriber.events.next(10_000, 'connected');
        assert.equal(connected.type, 'connected');
        await subscriber.ready;
        const published = [];
        for (let i = 0; i < 30; i++) published.push(await server.publish(channel, { i }));
        const messages = await takeMessages(subscriber, 30);
        assert.deepEqual(
          messages.map((m) => m.data),
          published.map((_, i) => ({ i })),
        );
        const offsets = messages.map((m) => m.offset);
        for (let i = 1; i < offsets.length; i++) assert.equal(offsets[i], offsets[i - 1]! + 1);
        assert.deepEqual(
          offsets,
          published.map((p) => p.offset),
        );
        for (const m of messages) {
          assert.equal(m.channel, channel);
          assert.equal(m.epoch, published[0]!.epoch);
          assert.match(m.cursor, new RegExp(`~${channel}~${m.epoch}~${m.offset}`));
        }
      });

      test('carries several channels on one connection, each in order', async () => {
        const a = `multi-a-${kind}`;
        const b = `multi-b-${kind}`;
        const subscriber = client(kind, [a, b]);
        await subscriber.ready;
        for (let i = 0; i < 10; i++) {
          await server.publish(a, i);
          await server.publish(b, i);
        }
        const messages = await takeMessages(subscriber, 20);
        for (const channel of [a, b]) {
          const mine = messages.filter((m) => m.channel === channel);
          assert.deepEqual(
            mine.map((m) => m.offset),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
          );
        }
        // Every cursor covers both channels.
        for (const m of messages)
          assert.ok(m.cursor.includes(`~${a}~`) && m.cursor.includes(`~${b}~`), m.cursor);
      });
    });
  }

  test('a message is byte-for-byte the same on every transport', async () => {
    const channel = 'same-everywhere';
    const subscribers = kinds.map((kind) => client(kind, [channel]));
    await Promise.all(subscribers.map((s) => s.ready));
    const data = { text: 'héllo "quoted" \n newline', n: [1, 2.5, null, true], nested: { e: '\u2028' } };
    await server.publish(channel, data);
    const got = await Promise.all(subscribers.map(async (s) => (await takeMessages(s, 1))[0]!));
    for (const m of got) {
      assert.deepEqual(m.data, data);
      assert.equal(m.offset, 1);
      assert.equal(m.cursor, got[0]!.cursor);
    }
  });
}
