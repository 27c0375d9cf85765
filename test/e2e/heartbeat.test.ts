import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import {
  type ClientEvent,
  openRawClient,
  type RawClient,
  TRANSPORTS,
  takeMessages,
} from '../helpers/clients.ts';
import { skipUnlessAvailable } from '../helpers/requirements.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { startTtlProxy, TTL_PROXY, type TtlProxy } from '../helpers/ttl-proxy.ts';

const TTL_S = 3;
const SILENCE_MS = 10_000;

/** Everything a client saw so far that is not a heartbeat. */
function seenSoFar(client: RawClient): ClientEvent[] {
  return client.events.takeQueued().filter((event) => event.type !== 'ping');
}

describe('heartbeats through a proxy that cuts idle connections', {
  skip: await skipUnlessAvailable(TTL_PROXY),
}, () => {
  let beating: RunningPushwire;
  let silent: RunningPushwire;
  let beatingProxy: TtlProxy;
  let silentProxy: TtlProxy;
  const open: RawClient[] = [];

  before(async () => {
    [beating, silent] = await Promise.all([
      startPushwire({ args: ['--heartbeat-interval', '1s', '--poll-timeout', '2s'] }),
      // The control: no heartbeats, and a poll held longer than the proxy allows.
      startPushwire({ args: ['--heartbeat-interval', 'off', '--poll-timeout', '10s'] }),
    ]);
    [beatingProxy, silentProxy] = await Promise.all([
      startTtlProxy(beating.port, TTL_S),
      startTtlProxy(silent.port, TTL_S),
    ]);
  });
  after(async () => {
    for (const c of open) c.close();
    await Promise.all([beatingProxy?.stop(), silentProxy?.stop()]);
    await Promise.all([beating?.stop(), silent?.stop()]);
  });

  test(`every transport stays connected through ${SILENCE_MS / 1000} s of silence, and only with heartbeats`, async () => {
    const alive = TRANSPORTS.map((kind) =>
      openRawClient(kind, beatingProxy.url, { channels: [`hb-${kind}`] }),
    );
    const cut = TRANSPORTS.map((kind) => openRawClient(kind, silentProxy.url, { channels: [`hb-${kind}`] }));
    open.push(...alive, ...cut);
    await Promise.all([...alive, ...cut].map((c) => c.ready));

    // The control proves the test can fail: without heartbeats the proxy cuts every transport.
    for (const c of cut) {
      const closed = await c.events.nextMatching(
        (e) => e.type === 'closed',
        SILENCE_MS,
        `${c.kind} to be cut`,
      );
      assert.equal(closed.type, 'closed', c.kind);
    }
    await new Promise((resolve) => setTimeout(resolve, SILENCE_MS - TTL_S * 1000));

    for (const c of alive) {
      const trouble = seenSoFar(c).filter((e) => e.type === 'closed' || e.type === 'reconnect');
      assert.deepEqual(trouble, [], `${c.kind} was cut`);
    }
    await Promise.all(TRANSPORTS.map((kind) => beating.publish(`hb-${kind}`, { after: 'silence' })));
    for (const c of alive) {
      const [message] = await takeMessages(c, 1, 5000);
      assert.deepEqual(message!.data, { after: 'silence' }, c.kind);
    }
  });
});

describe('dead WebSocket peers', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--heartbeat-interval', '1s', '--heartbeat-timeout', '1s'] });
  });
  after(async () => {
    await server.stop();
  });

  test('a peer that never answers pings is closed with 4001 within heartbeat + timeout', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    const opened = Date.now();
    const pings: number[] = [];
    ws.on('message', (raw) => {
      if (JSON.parse(raw.toString()).op === 'ping') pings.push(Date.now() - opened);
    });
    const [code] = await new Promise<[number, string]>((resolve) =>
      ws.on('close', (c, reason) => resolve([c, reason.toString()])),
    );
    const elapsed = Date.now() - opened;
    assert.equal(code, 4001);
    assert.ok(pings.length >= 1, 'it was pinged first');
    // Closed after interval + timeout of silence (2 s), give or take one tick of the wheel (200 ms).
    assert.ok(elapsed >= 1900 && elapsed < 4000, `closed after ${elapsed} ms`);
  });

  test('a peer that answers stays open', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    let pings = 0;
    let closed = false;
    ws.on('close', () => {
      closed = true;
    });
    await new Promise<void>((resolve) =>
      ws.on('message', (raw) => {
        if (JSON.parse(raw.toString()).op !== 'ping') return;
        ws.send('{"op":"pong"}');
        if (++pings === 4) resolve();
      }),
    );
    assert.equal(closed, false, 'still open after 4 heartbeats (> interval + timeout)');
    ws.close();
  });

  test('a peer on a busy channel is pinged too, and stays open by answering', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
    let pings = 0;
    let messages = 0;
    let closed = false;
    ws.on('close', () => {
      closed = true;
    });
    ws.on('open', () => ws.send('{"id":1,"op":"subscribe","channel":"busy"}'));
    let subscribed: () => void = () => {};
    const replied = new Promise<void>((resolve) => {
      subscribed = resolve;
    });
    ws.on('message', (raw) => {
      const op = JSON.parse(raw.toString()).op;
      if (op === 'reply') subscribed();
      if (op === 'ping') {
        pings += 1;
        ws.send('{"op":"pong"}');
      }
      if (op === 'message') messages += 1;
    });
    await replied;
    // Messages every 200 ms for 4 s: interval + timeout (2 s) twice over.
    for (let i = 0; i < 20; i++) {
      await server.publish('busy', i);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(closed, false);
    assert.equal(messages, 20);
    assert.ok(pings >= 2, `pinged ${pings} times`);
    ws.close();
  });
});
