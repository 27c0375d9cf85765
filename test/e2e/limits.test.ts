import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { openRawClient, takeMessages } from '../helpers/clients.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';
import { type Frame, openWsSession } from '../helpers/ws-session.ts';

/** The value of one series in the server's /metrics text (0 when absent). */
async function metric(server: RunningPushwire, series: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return 0;
}

/** Frames until the connection closes (or `limit` frames, whichever first). */
async function framesUntilClose(
  frames: { next(ms: number, what: string): Promise<Frame> },
  closed: Promise<unknown>,
) {
  const seen: Frame[] = [];
  let done = false;
  void closed.then(() => {
    done = true;
  });
  while (!done && seen.length < 10_000) {
    const frame = await Promise.race([frames.next(30_000, 'a frame or the close'), closed.then(() => null)]);
    if (frame === null) break;
    seen.push(frame);
  }
  return seen;
}

describe('WebSocket commands per second', { timeout: 120_000 }, () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--max-commands-per-second', '5'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('a burst passes; past it each frame gets rate_limited; a flood is closed with 4004', async () => {
    const healthy = openRawClient('websocket', server.url, { channels: ['calm'] });
    await healthy.ready;
    const flooder = openWsSession(server.url);
    await flooder.connected;
    // Junk counts as much as commands: unknown ops, each with an id to answer.
    for (let id = 1; id <= 200; id++) flooder.ws.send(JSON.stringify({ id, op: 'nonsense' }));
    const frames = await framesUntilClose(flooder.frames, flooder.closed);
    const { code } = await flooder.closed;
    assert.equal(code, 4004, 'rate_limited closes with 4004');
    const errors = frames.filter((frame) => frame.op === 'error');
    assert.equal(errors[0]?.code, 'unknown_op', 'the first frames are within the burst and handled');
    const limited = errors.filter((frame) => frame.code === 'rate_limited' && frame.id !== undefined);
    assert.ok(limited.length > 0, 'frames past the burst are answered rate_limited, with their id');
    assert.ok(
      errors.some((frame) => frame.code === 'rate_limited' && frame.id === undefined),
      'the close is announced by a rate_limited error event',
    );
    assert.ok(frames.length < 200, 'the flood was cut before all of it was answered');

    await server.publish('calm', 'still here');
    const [message] = await takeMessages(healthy, 1, 30_000);
    assert.equal(message?.data, 'still here');
    assert.ok((await metric(server, 'pushwire_commands_rate_limited_total')) >= limited.length);
    assert.equal(await metric(server, 'pushwire_connections_ended_total{code="rate_limited"}'), 1);
    healthy.close();
  });

  test('a client within the rate is never limited', async () => {
    const client = openWsSession(server.url);
    await client.connected;
    for (let i = 0; i < 5; i++) {
      const reply = await client.request({ op: 'subscribe', channel: `ok-${i}` });
      assert.equal(reply.op, 'reply', JSON.stringify(reply));
    }
    client.close();
  });
});

/** Client publishes over one kept-alive HTTP connection, each with the name the client gives. */
function httpPublisher(base: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const publish = (channel: string, data: unknown, name: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        `${base}/publish`,
        {
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'application/json', 'X-Pushwire-Client': name },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ channel, data }));
    });
  return { publish, close: () => agent.destroy() };
}

describe('client publish rates', { timeout: 120_000 }, () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({
      args: [
        '--config',
        'test/fixtures/game-namespace.yaml',
        '--client-publish-rate',
        '5',
        '--client-publish-rate-per-ip',
        '20',
      ],
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('POST /publish: a name the client picks is no new bucket; the connection is limited', async () => {
    const http = httpPublisher(server.url);
    const statuses: number[] = [];
    // A fresh X-Pushwire-Client on every publish, as a client that rotates it would send.
    // Until refused: on a loaded machine the bucket refills while the requests go one by one.
    for (let i = 0; i < 300 && !statuses.includes(429); i++) {
      statuses.push(await http.publish('game:http', i, `tab-${i}`));
    }
    http.close();
    assert.ok(statuses.includes(429), `statuses: ${statuses.join(',')}`);
    assert.ok(statuses.indexOf(429) >= 10, `the burst (twice the rate) passes first: ${statuses.join(',')}`);
  });

  test('WebSocket: fresh connections from one address share the per-address rate', async () => {
    const replies: Frame[] = [];
    const sessions = Array.from({ length: 8 }, () => openWsSession(server.url));
    for (const session of sessions) await session.connected;
    // Each connection stays under its own burst (10): only the address's (40) can refuse.
    for (const session of sessions) {
      for (let i = 0; i < 8; i++)
        replies.push(await session.request({ op: 'publish', channel: 'game:ws', data: i }));
    }
    for (const session of sessions) session.close();
    const limited = replies.filter((reply) => reply.op === 'error');
    assert.ok(limited.length > 0, 'past the address rate publishes are refused');
    for (const reply of limited) {
      assert.equal(reply.code, 'rate_limited');
      assert.match(String(reply.message), /address/);
    }
    assert.ok(replies.filter((reply) => reply.op === 'reply').length >= 20, 'the burst passes');
    const byAddress = await metric(server, 'pushwire_client_publishes_rate_limited_total{limit="address"}');
    assert.ok(byAddress >= limited.length, `counted: ${byAddress}`);
  });
});

describe('history memory budget', { timeout: 120_000 }, () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--max-history-memory', '2kb', '--history-size', '1000'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('past the budget the oldest history goes, and a resume into it is told of the gap', async () => {
    const payload = 'y'.repeat(200);
    let epoch = '';
    for (let i = 1; i <= 30; i++)
      ({ epoch } = await server.publish(i % 2 ? 'budget:a' : 'budget:b', `${payload}${i}`));
    const held = await metric(server, 'pushwire_history_bytes');
    assert.ok(held > 0 && held <= 2048, `history holds ${held} bytes`);
    assert.ok((await metric(server, 'pushwire_history_evicted_total{reason="memory"}')) > 0);

    // budget:b's first message (offset 1) is long gone: resuming right after it leaves a hole.
    const resumed = openRawClient('websocket', server.url, {
      channels: ['budget:b'],
      cursor: `1~budget:b~${epoch}~1`,
    });
    const first = await resumed.events.next(30_000, 'the gap');
    const event = first.type === 'connected' ? await resumed.events.next(30_000, 'the gap') : first;
    assert.equal(event.type, 'gap', JSON.stringify(event));
    assert.equal((event as { reason: string }).reason, 'window');
    const next = (event as { nextOffset: number }).nextOffset;
    assert.ok(next > 2, `history resumes at ${next}`);
    const [message] = await takeMessages(resumed, 1, 30_000);
    assert.equal(message?.offset, next, 'then what history still holds, in order');
    resumed.close();
  });
});

/** An SSE subscriber on a raw socket that stops reading once subscribed. */
async function stalledSse(base: string, channel: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(base);
  const socket = connect(Number(port), hostname);
  socket.setEncoding('utf8');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.write(
    `GET /sse?channel=${channel} HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n\r\n`,
  );
  let seen = '';
  await new Promise<void>((resolve) => {
    const onData = (text: string) => {
      seen += text;
      if (!seen.includes('event: connected')) return;
      socket.off('data', onData);
      socket.pause();
      resolve();
    };
    socket.on('data', onData);
  });
  return { socket, closed };
}

describe('outbound memory budget', { timeout: 180_000 }, () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--max-outbound-memory', '2mb'] });
  });
  after(async () => {
    await server?.stop();
  });

  test('past the total, the connections with the most queued are cut; a reader gets everything', async () => {
    const reader = openRawClient('websocket', server.url, { channels: ['wide'] });
    await reader.ready;
    const stalled = await Promise.all([1, 2, 3].map(() => stalledSse(server.url, 'wide')));
    const payload = 'z'.repeat(60_000);
    const total = 300;
    for (let i = 0; i < total; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => server.publish('wide', `${payload}${i + k}`)));
    }
    const got = await takeMessages(reader, total, 60_000);
    assert.deepEqual(
      got.map((message) => message.offset),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    assert.ok((await metric(server, 'pushwire_outbound_budget_cuts_total')) >= 1, 'the budget cut someone');
    // Read again: each stalled subscriber was cut and sees its connection end.
    for (const { socket } of stalled) socket.resume();
    await Promise.all(stalled.map(({ closed }) => closed));
    assert.ok((await metric(server, 'pushwire_connections_ended_total{code="slow_consumer"}')) >= 3);
    reader.close();
  });
});

describe('client publish rate per address behind a trusted proxy', { timeout: 120_000 }, () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({
      args: [
        '--config',
        'test/fixtures/game-namespace.yaml',
        '--client-publish-rate',
        '1000',
        '--client-publish-rate-per-ip',
        '2',
        '--trust-proxy',
        '127.0.0.1',
      ],
    });
  });
  after(async () => {
    await server?.stop();
  });

  /** A publish on a connection of its own, as forwarded by the proxy for `client`. */
  const forwarded = (client: string, data: number) =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        `${server.url}/publish`,
        {
          method: 'POST',
          agent: false,
          headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': client },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ channel: 'game:proxied', data }));
    });

  test('each client the proxy names has its own bucket, whatever connection it comes on', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 300 && !statuses.includes(429); i++) statuses.push(await forwarded('203.0.113.1', i));
    assert.ok(statuses.includes(429), `one client is limited: ${statuses.join(',')}`);
    assert.equal(await forwarded('203.0.113.2', 0), 200, 'another client behind the same proxy is not');
  });
});
