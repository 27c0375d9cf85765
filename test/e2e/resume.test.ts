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

const PAIRS: [TransportKind, TransportKind][] = [
  ...TRANSPORTS.map((kind): [TransportKind, TransportKind] => [kind, kind]),
  ['websocket', 'sse'],
  ['sse', 'longpoll'],
  ['longpoll', 'stream'],
  ['stream', 'websocket'],
];

describe('resume', () => {
  let server: RunningPushwire;
  const open: RawClient[] = [];
  const client = (kind: TransportKind, channels: string[], cursor: string | null = null) => {
    const c = openRawClient(kind, server.url, { channels, cursor });
    open.push(c);
    return c;
  };

  before(async () => {
    server = await startPushwire({ args: ['--history-size', '100'] });
  });
  after(async () => {
    for (const c of open) c.close();
    await server.stop();
  });

  for (const [from, to] of PAIRS) {
    test(`a cursor from ${from} resumes on ${to}: exactly the 50 missed, in order, once`, async () => {
      const channel = `resume-${from}-${to}`;
      const first = client(from, [channel]);
      await first.ready;
      for (let i = 0; i < 5; i++) await server.publish(channel, { i });
      await takeMessages(first, 5);
      const cursor = first.cursor();
      assert.ok(cursor);
      first.close();

      for (let i = 5; i < 55; i++) await server.publish(channel, { i });
      const second = client(to, [channel], cursor);
      const missed = await takeMessages(second, 50);
      assert.deepEqual(
        missed.map((m) => m.offset),
        Array.from({ length: 50 }, (_, i) => i + 6),
      );
      assert.deepEqual(
        missed.map((m) => m.data),
        Array.from({ length: 50 }, (_, i) => ({ i: i + 5 })),
      );
      await server.publish(channel, { i: 55 });
      const [live] = await takeMessages(second, 1);
      assert.equal(live!.offset, 56, 'then live, with no duplicate in between');
    });
  }

  test('a cursor covering several channels resumes each of them', async () => {
    const [a, b] = ['several-a', 'several-b'];
    const first = client('websocket', [a, b]);
    await first.ready;
    await server.publish(a, 'a1');
    await server.publish(b, 'b1');
    await takeMessages(first, 2);
    const cursor = first.cursor();
    first.close();
    await server.publish(b, 'b2');
    await server.publish(a, 'a2');
    const second = client('sse', [a, b], cursor);
    const missed = await takeMessages(second, 2);
    assert.deepEqual(missed.map((m) => m.data).sort(), ['a2', 'b2']);
  });

  test('SSE: the Last-Event-ID header wins over ?cursor=', async () => {
    const channel = 'last-event-id';
    for (let i = 1; i <= 5; i++) await server.publish(channel, i);
    const history = await fetch(`${server.url}/poll?channel=${channel}`);
    const { cursor: top } = (await history.json()) as { cursor: string };
    const atTwo = top.replace(/~5$/, '~2');
    const atFour = top.replace(/~5$/, '~4');
    const abort = new AbortController();
    const response = await fetch(`${server.url}/sse?channel=${channel}&cursor=${atFour}`, {
      headers: { 'Last-Event-ID': atTwo },
      signal: abort.signal,
    });
    const reader = response.body!.getReader();
    let text = '';
    while ((text.match(/^data: \{"channel"/gm) ?? []).length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    const offsets = [...text.matchAll(/"offset":(\d+)/g)].map((m) => Number(m[1]));
    assert.deepEqual(offsets, [3, 4, 5]);
  });
});

describe('gaps', () => {
  let server: RunningPushwire;
  const open: RawClient[] = [];

  before(async () => {
    // Without the minimum age, the window is the last 10 messages: easy to fall out of.
    server = await startPushwire({ args: ['--history-size', '10', '--history-min-age', '0'] });
  });
  after(async () => {
    for (const c of open) c.close();
    await server.stop();
  });

  for (const kind of TRANSPORTS) {
    test(`${kind}: a cursor older than the history window gets a gap, then what is held, then live`, async () => {
      const channel = `window-${kind}`;
      const first = openRawClient(kind, server.url, { channels: [channel] });
      open.push(first);
      await first.ready;
      const cursor = first.cursor();
      first.close();
      for (let i = 1; i <= 30; i++) await server.publish(channel, i);
      const second = openRawClient(kind, server.url, { channels: [channel], cursor });
      open.push(second);
      const gap = await second.events.nextMatching((e) => e.type === 'gap', 10_000, 'the gap event');
      assert.equal(gap.type === 'gap' && gap.reason, 'window');
      assert.equal(gap.type === 'gap' && gap.nextOffset, 21);
      const held = await takeMessages(second, 10);
      assert.deepEqual(
        held.map((m) => m.offset),
        [21, 22, 23, 24, 25, 26, 27, 28, 29, 30],
      );
      await server.publish(channel, 31);
      assert.equal((await takeMessages(second, 1))[0]!.offset, 31);
    });
  }

  test('after a restart of the memory broker every transport reports an epoch gap, then goes live', async () => {
    const channel = 'epoch';
    await server.publish(channel, 'before');
    const { cursor } = (await (await fetch(`${server.url}/poll?channel=${channel}`)).json()) as {
      cursor: string;
    };
    await server.stop();
    server = await startPushwire({ args: ['--history-size', '10'] });
    const clients = TRANSPORTS.map((kind) =>
      openRawClient(kind, server.url, { channels: [channel], cursor }),
    );
    open.push(...clients);
    for (const c of clients) {
      const gap = await c.events.nextMatching((e) => e.type === 'gap', 10_000, `${c.kind} epoch gap`);
      assert.equal(gap.type === 'gap' && gap.reason, 'epoch', c.kind);
      await c.ready;
    }
    const { offset, epoch } = await server.publish(channel, 'after');
    assert.equal(offset, 1);
    for (const c of clients) {
      const [m] = await takeMessages(c, 1);
      assert.equal(m!.epoch, epoch, c.kind);
      assert.equal(m!.data, 'after', c.kind);
    }
  });
});
