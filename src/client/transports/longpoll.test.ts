import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Pushwire } from '../pushwire.ts';
import type { PushwireEvents } from '../types.ts';

/** A real listener on loopback whose answers the test decides; it records every poll's cursor. */
async function listen(answer: (req: IncomingMessage, res: ServerResponse) => void) {
  const cursors: (string | null)[] = [];
  const server = createServer((req, res) => {
    cursors.push(new URL(req.url ?? '/', 'http://x').searchParams.get('cursor'));
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cursors };
}

function nextEvent<K extends keyof PushwireEvents>(client: Pushwire, name: K): Promise<PushwireEvents[K]> {
  return new Promise((resolve) => {
    const off = client.on(name, (payload) => {
      off();
      resolve(payload);
    });
  });
}

test('a poll that is accepted but never answered is no connection: it times out unconnected', async () => {
  const { url, cursors } = await listen(() => {});
  const client = new Pushwire(url, { transports: ['longpoll'], connectTimeoutMs: 2000 });
  let connected = false;
  client.on('connected', () => {
    connected = true;
  });
  try {
    client.subscribe('a', () => {});
    // Well past the second after which a pending poll used to count as connected.
    const reconnecting = await nextEvent(client, 'reconnecting');
    assert.equal(connected, false);
    assert.equal(reconnecting.attempt, 1);
    assert.notEqual(client.state, 'connected');
    assert.deepEqual(cursors, [null]);
  } finally {
    client.close();
  }
});

test("a new link's first poll has no cursor; polling goes on from its answer's", async () => {
  // The first poll is answered with the channels' current positions; later ones hang.
  const { url, cursors } = await listen((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').searchParams.has('cursor')) return;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ messages: [], cursor: '1~a~E1~9' }));
  });
  const client = new Pushwire(url, { transports: ['longpoll'] });
  try {
    const connected = nextEvent(client, 'connected');
    client.subscribe('a', () => {});
    assert.equal((await connected).transport, 'longpoll');
    assert.equal(client.state, 'connected');
    await until(() => cursors.length >= 2);
    assert.deepEqual(cursors, [null, '1~a~E1~9']);
  } finally {
    client.close();
  }
});

test('a resume is one poll: from the client’s cursor with wait=0, connected and delivered by its answer', async () => {
  const waits: (string | null)[] = [];
  const { url, cursors } = await listen((req, res) => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    waits.push(query.get('wait'));
    if (query.get('wait') !== '0') return; // a held poll: hangs
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const missed = (offset: number) => ({
      channel: 'a',
      offset,
      epoch: 'E1',
      data: offset,
      cursor: `1~a~E1~${offset}`,
    });
    res.end(JSON.stringify({ messages: [missed(6), missed(7)], cursor: '1~a~E1~7~b~E2~3' }));
  });
  const client = new Pushwire(url, { transports: ['longpoll'], cursor: '1~a~E1~5' });
  const got: number[] = [];
  try {
    const connected = nextEvent(client, 'connected');
    client.subscribe('a', (message) => got.push(message.offset));
    client.subscribe('b', () => {});
    await connected;
    await until(() => cursors.length >= 2);
    assert.deepEqual(got, [6, 7], 'what the client missed came with the answer that connected it');
    // `a` goes on after what came, `b` (which the client had no position on) from the answer.
    assert.deepEqual(cursors, ['1~a~E1~5', '1~a~E1~7~b~E2~3']);
    assert.deepEqual(waits, ['0', null], 'only the resume’s poll is answered at once');
  } finally {
    client.close();
  }
});

test('messages a poll lists without cursors get the connection’s cursor after each', async () => {
  const listed = (channel: string, epoch: string, offset: number) => ({
    channel,
    offset,
    epoch,
    data: offset,
  });
  const { url } = await listen((req, res) => {
    // The resume's poll is answered with what the client missed on both channels; later ones hang.
    if (new URL(req.url ?? '/', 'http://x').searchParams.get('wait') !== '0') return;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(
      JSON.stringify({
        messages: [listed('a', 'E1', 6), listed('b', 'E2', 4), listed('a', 'E1', 7)],
        cursor: '1~a~E1~7~b~E2~4',
      }),
    );
  });
  const client = new Pushwire(url, { transports: ['longpoll'], cursor: '1~a~E1~5~b~E2~3' });
  const got: (string | undefined)[] = [];
  try {
    client.subscribe('a', (message) => got.push(message.cursor));
    client.subscribe('b', (message) => got.push(message.cursor));
    await until(() => got.length >= 3);
    assert.deepEqual(got, ['1~a~E1~6~b~E2~3', '1~a~E1~6~b~E2~4', '1~a~E1~7~b~E2~4']);
  } finally {
    client.close();
  }
});

async function until(done: () => boolean): Promise<void> {
  for (let turn = 0; !done() && turn < 500; turn++) await new Promise((resolve) => setTimeout(resolve, 10));
}
