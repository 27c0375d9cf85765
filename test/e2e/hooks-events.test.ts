import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  eventsOf,
  type HookReceiver,
  type ReceivedEvent,
  startHookReceiver,
} from '../helpers/hook-receiver.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { openWsSession } from '../helpers/ws-session.ts';

const SECRET = 'test-hook-secret-0123456789abcdef';

/** `type channel reason` of each event, to compare a client's story at a glance. */
const story = (events: readonly ReceivedEvent[]) =>
  events.map((e) => [e.type, e.channel, e.reason].filter((part) => part).join(' '));

/** What every delivery must satisfy, once duplicates are dropped on id: every request signed, numbers in order with none missing. */
function assertDelivery(receiver: HookReceiver): void {
  const { events } = receiver;
  assert.ok(
    receiver.calls.length > 0 && receiver.calls.every((call) => call.signed),
    'every request is signed',
  );
  const byClient = new Map<string, number[]>();
  /** Each channel's runs of numbers, one per time it was occupied. */
  const byChannel = new Map<string, number[][]>();
  for (const event of events) {
    if (event.clientId !== null && event.clientSeq !== null) {
      byClient.set(event.clientId, [...(byClient.get(event.clientId) ?? []), event.clientSeq]);
    }
    if (event.channel !== null && event.channelSeq !== null) {
      const runs = byChannel.get(event.channel) ?? [];
      if (event.type === 'channel_occupied' || runs.length === 0) runs.push([]);
      runs.at(-1)!.push(event.channelSeq);
      byChannel.set(event.channel, runs);
    }
  }
  for (const [client, seqs] of byClient) {
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      `client ${client}: clientSeq 1, 2, 3 … in arrival order`,
    );
  }
  for (const [channel, runs] of byChannel) {
    for (const run of runs) {
      assert.deepEqual(
        run,
        run.map((_, i) => run[0]! + i),
        `channel ${channel}: from occupied to vacated, channelSeq rises by one in arrival order`,
      );
    }
    const starts = runs.map((run) => run[0]!);
    assert.deepEqual(
      starts,
      [...starts].sort((x, y) => x - y),
      `channel ${channel}: a later run numbers higher`,
    );
    assert.ok(
      runs.every((run, i) => i === 0 || run[0]! > runs[i - 1]!.at(-1)!),
      `channel ${channel}: runs never overlap`,
    );
  }
}

describe('lifecycle webhooks on one node', () => {
  let receiver: HookReceiver;
  let server: RunningPushwire;
  /** Without heartbeats: a client that stops reading stops answering pings too, and must be cut as slow first. */
  let flooded: RunningPushwire;

  before(async () => {
    receiver = await startHookReceiver(SECRET);
    const hooks = [
      '--hook-url',
      `${receiver.url}/events`,
      '--hook-secret',
      SECRET,
      '--shutdown-timeout',
      '3s',
    ];
    [server, flooded] = await Promise.all([
      startPushwire({ args: [...hooks, '--heartbeat-interval', '400ms', '--heartbeat-timeout', '400ms'] }),
      startPushwire({ args: [...hooks, '--heartbeat-interval', 'off'] }),
    ]);
  });
  after(async () => {
    await Promise.all([server?.stop(), flooded?.stop()]);
    await receiver?.close();
  });

  test('a scripted session: every event once, in order, signed, with the reason of each disconnect', async () => {
    // A client that subscribes to two channels, leaves one, then closes.
    const a = openWsSession(server.url);
    const clientA = await a.connected;
    assert.equal((await a.request({ op: 'subscribe', channel: 'room' })).op, 'reply');
    assert.equal((await a.request({ op: 'subscribe', channel: 'side' })).op, 'reply');
    assert.equal((await a.request({ op: 'unsubscribe', channel: 'side' })).op, 'reply');
    a.close();
    // A client that stops answering pings.
    const silent = openWsSession(server.url, { answerPings: false });
    const clientB = await silent.connected;
    await silent.request({ op: 'subscribe', channel: 'quiet' });
    // A client that stops reading while messages pour in.
    const slow = openWsSession(flooded.url);
    const clientC = await slow.connected;
    await slow.request({ op: 'subscribe', channel: 'flood' });
    (slow.ws as unknown as { _socket: Socket })._socket.pause();
    const payload = 'x'.repeat(60_000);
    let published = 0;
    const disconnected = (client: string) => (events: readonly ReceivedEvent[]) =>
      events.some((e) => e.type === 'disconnect' && e.clientId === client);
    // Bounded: 400 messages of 60 kB overflow the 4 MiB send buffer and the socket's.
    while (published < 400 && !disconnected(clientC)(receiver.events)) {
      await Promise.all(Array.from({ length: 20 }, () => flooded.publish('flood', payload)));
      published += 20;
    }
    await receiver.until(
      (events) => [clientA, clientB, clientC].every((client) => disconnected(client)(events)),
      20_000,
      'the three disconnects',
    );

    assert.deepEqual(story(eventsOf(receiver.events, clientA)), [
      'connect',
      'subscribe room',
      'subscribe side',
      'unsubscribe side',
      'unsubscribe room',
      'disconnect client_closed',
    ]);
    assert.deepEqual(story(eventsOf(receiver.events, clientB)), [
      'connect',
      'subscribe quiet',
      'unsubscribe quiet',
      'disconnect heartbeat_timeout',
    ]);
    assert.deepEqual(story(eventsOf(receiver.events, clientC)), [
      'connect',
      'subscribe flood',
      'unsubscribe flood',
      'disconnect slow_consumer',
    ]);
    // The channel's own story: occupied before its first subscribe, vacated after its last unsubscribe.
    const room = receiver.events.filter((e) => e.channel === 'room');
    assert.deepEqual(story(room), [
      'channel_occupied room',
      'subscribe room',
      'unsubscribe room',
      'channel_vacated room',
    ]);
    const connect = receiver.events.find((e) => e.clientId === clientA)!;
    assert.equal(connect.transport, 'websocket');
    // The node's id (client ids are random and don't name it); all of the client's events name it.
    assert.match(connect.node, /^[0-9a-f]{8}$/);
    assert.ok(
      receiver.events.filter((e) => e.clientId === clientA).every((e) => e.node === connect.node),
      "every event of the client names the client's node",
    );
    assert.equal(typeof connect.time, 'number');
    assert.equal(receiver.calls[0]?.path, '/events');
    assertDelivery(receiver);
  });

  test('a receiver that fails for a while then recovers gets every event, in order', async () => {
    let failures = 4;
    receiver.answer = () => (failures-- > 0 ? { status: 500 } : { status: 200, body: {} });
    const client = openWsSession(server.url);
    const id = await client.connected;
    await client.request({ op: 'subscribe', channel: 'retry' });
    await client.request({ op: 'unsubscribe', channel: 'retry' });
    await client.request({ op: 'subscribe', channel: 'retry' });
    client.close();
    await receiver.until(
      (events) => events.some((e) => e.type === 'disconnect' && e.clientId === id),
      20_000,
      'the disconnect after the outage',
    );
    assert.ok(failures < 0, 'the receiver failed requests first');
    assert.deepEqual(story(eventsOf(receiver.events, id)), [
      'connect',
      'subscribe retry',
      'unsubscribe retry',
      'subscribe retry',
      'unsubscribe retry',
      'disconnect client_closed',
    ]);
    assertDelivery(receiver);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const retries = /pushwire_hooks_retries_total\{hook="events"\} (\d+)/.exec(metrics);
    assert.ok(Number(retries?.[1]) >= 4, `retries counted: ${retries?.[0]}`);
    assert.match(metrics, /pushwire_hooks_requests_total\{hook="events",outcome="failed"\} 4/);
    assert.match(metrics, /pushwire_hooks_events_queued 0/);
  });

  test('a drain tells of every client it disconnects before the node exits', async () => {
    receiver.answer = () => ({ status: 200, body: {} });
    const client = openWsSession(server.url);
    const id = await client.connected;
    await client.request({ op: 'subscribe', channel: 'last' });
    // A slow receiver: the node waits for it within its shutdown timeout.
    receiver.answer = () => ({ status: 200, body: {}, delayMs: 300 });
    assert.equal(await server.stop(), 0);
    assert.deepEqual(story(eventsOf(receiver.events, id)), [
      'connect',
      'subscribe last',
      'unsubscribe last',
      'disconnect drained',
    ]);
    assertDelivery(receiver);
  });
});
