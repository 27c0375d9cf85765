import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import {
  ADMIN_KEY,
  adminCall,
  eventually,
  openTextStream,
  type TextStream,
  within,
} from '../helpers/admin.ts';
import { type ClientProxy, startClientProxy } from '../helpers/client-proxy.ts';
import { nodeClient } from '../helpers/client-sdk.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

// Peers that vanish without a word (no FIN, no RST) must not pile up on the server: a client
// that reconnects ends its old connection by naming it, every connection has TCP keepalive,
// and a stream whose bytes stop draining is closed after a few heartbeat intervals.

const run = promisify(execFile);

interface Info {
  connections: { total: number };
  counters: { ended: Record<string, number> };
}

async function info(server: RunningPushwire): Promise<Info> {
  const { body } = await adminCall(server.url, '/api/info');
  return (body.nodes as Info[])[0]!;
}

interface Connected {
  clientId: string;
  replaceKey: string;
}

/** One push connection as its plain client sees it: its `connected` event and how it ended. */
interface Opened {
  readonly connected: Connected;
  /** Resolves with the error code the server ended it with (null: it ended without one). */
  readonly ended: Promise<string | null>;
  close(): void;
}

type PushKind = 'websocket' | 'sse' | 'stream';

function replaceQuery(replaces: { clientId: string; key: string } | null): string {
  return replaces
    ? `&replaces=${encodeURIComponent(replaces.clientId)}&replaceKey=${encodeURIComponent(replaces.key)}`
    : '';
}

async function open(
  server: RunningPushwire,
  kind: PushKind,
  replaces: { clientId: string; key: string } | null = null,
): Promise<Opened> {
  if (kind === 'websocket') return openWs(server, replaces);
  const stream: TextStream = await openTextStream(
    `${server.url}/${kind}?channel=dead-peers${replaceQuery(replaces)}`,
  );
  assert.equal(stream.status, 200);
  const marker = kind === 'sse' ? 'event: connected' : '"op":"connected"';
  await stream.until(marker);
  await stream.until('}\n');
  const line = stream
    .text()
    .split('\n')
    .find((l) => (kind === 'sse' ? l.startsWith('data: {"clientId"') : l.includes('"op":"connected"')))!;
  const connected = JSON.parse(kind === 'sse' ? line.slice('data: '.length) : line) as Connected;
  const ended = stream.ended.then((text) => /"code":"([a-z_]+)"/.exec(text)?.[1] ?? null);
  return { connected, ended, close: () => stream.close() };
}

async function openWs(
  server: RunningPushwire,
  replaces: { clientId: string; key: string } | null,
): Promise<Opened> {
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/ws?x=1${replaceQuery(replaces)}`);
  ws.on('error', () => {});
  const ended = new Promise<string | null>((resolve) =>
    ws.on('close', (code, reason) => resolve(code === 4506 ? String(reason) : `close ${code}`)),
  );
  const connected = await within(
    new Promise<Connected>((resolve) =>
      ws.once('message', (data) => resolve(JSON.parse(String(data)) as Connected)),
    ),
    'the connected frame',
  );
  return { connected, ended, close: () => ws.close() };
}

describe('dead peers', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--admin-key', ADMIN_KEY, '--heartbeat-interval', '300ms'] });
  });
  after(async () => {
    await server.stop();
  });

  for (const kind of ['websocket', 'sse', 'stream'] as const) {
    test(`${kind}: a reconnect that names its old connection with its key ends it at once`, async () => {
      const before = await info(server);
      const first = await open(server, kind);
      assert.match(first.connected.replaceKey, /^[A-Za-z0-9_-]{20,}$/);
      const second = await open(server, kind, {
        clientId: first.connected.clientId,
        key: first.connected.replaceKey,
      });
      // The old one was ended before the new one opened: the server never holds both.
      assert.equal(await within(first.ended, 'the old connection to end'), 'replaced');
      const now = await info(server);
      assert.equal(now.connections.total, before.connections.total + 1);
      assert.equal((now.counters.ended.replaced ?? 0) - (before.counters.ended.replaced ?? 0), 1);

      // A wrong key, or someone else's clientId, replaces nothing.
      const third = await open(server, kind, { clientId: second.connected.clientId, key: 'not-the-key' });
      assert.equal((await info(server)).connections.total, before.connections.total + 2);
      // As many characters as the key but more bytes: still just a wrong key, not a failure.
      const multibyte = 'é'.repeat(second.connected.replaceKey.length);
      const fourth = await open(server, kind, { clientId: second.connected.clientId, key: multibyte });
      assert.equal((await info(server)).connections.total, before.connections.total + 3);
      fourth.close();
      third.close();
      second.close();
      await eventually(
        async () => (await info(server)).connections.total === before.connections.total,
        'both to close',
      );
    });
  }

  test('replaces without its key is a malformed request', async () => {
    const response = await fetch(`${server.url}/stream?channel=dead-peers&replaces=abc`);
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'invalid_request');
  });

  test('every push connection has TCP keepalive on the server side', async () => {
    // Each connection on a socket of its own (fetch would reuse an earlier test's keep-alive
    // socket), found in ss by its client port.
    const clientSockets = async () => {
      const all = await run('ss', ['-tnH', 'state', 'established', `( dport = :${server.port} )`]);
      return all.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => Number(line.trim().split(/\s+/)[2]!.split(':').pop()));
    };
    const earlierPorts = new Set(await clientSockets());
    const clientPorts: number[] = [];
    const sockets: Socket[] = [];
    for (const path of ['/stream?channel=dead-peers', '/sse?channel=dead-peers']) {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      sockets.push(socket);
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      let text = '';
      await within(
        new Promise<void>((resolve) =>
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (text.includes('connected')) resolve();
          }),
        ),
        `${path}'s connected event`,
      );
      clientPorts.push(socket.localPort!);
    }
    const ws = await open(server, 'websocket');
    // The WebSocket's client port: the one client socket to the server that is new and not the others'.
    for (const port of await clientSockets()) {
      if (!clientPorts.includes(port) && !earlierPorts.has(port)) clientPorts.push(port);
    }
    try {
      // While sent bytes wait for their ACK, ss shows the retransmit timer instead: look again then.
      let lines: string[] = [];
      await eventually(async () => {
        const all = await run('ss', ['-tnoH', 'state', 'established', `( sport = :${server.port} )`]);
        lines = all.stdout
          .trim()
          .split('\n')
          .filter((line) => clientPorts.some((port) => line.includes(`127.0.0.1:${port} `)));
        return lines.length === 3 && lines.every((line) => !/timer:\(on,/.test(line));
      }, 'the three connections, every sent byte acknowledged');
      for (const line of lines) assert.match(line, /timer:\(keepalive,/, line);
    } finally {
      ws.close();
      for (const socket of sockets) socket.destroy();
    }
  });

  test('a stream whose bytes stop draining is closed after a few heartbeats; a reader stays', async () => {
    const reader = await openTextStream(`${server.url}/stream?channel=flood`);
    await reader.until('"op":"connected"');
    const stalled = await openStalledStream(server.port, 'flood');
    const stalledId = (JSON.parse(stalled.connected) as Connected).clientId;
    const before = await info(server);
    const payload = 'x'.repeat(60_000);
    let published = 0;
    // Fill the loopback's socket buffers until the server's own send buffer holds bytes,
    // well under the slow-consumer limit; then publish no more.
    for (; published < 300; published++) {
      await server.publish('flood', `${payload}${published}`);
      const { body } = await adminCall(server.url, '/api/connections?channel=flood');
      const mine = (body.connections as Array<{ clientId: string; bytesQueued: number }>).find(
        (c) => c.clientId === stalledId,
      );
      if (!mine || mine.bytesQueued > 0) break;
    }
    const ended = await eventually(
      async () => {
        const now = await info(server);
        const cut =
          (now.counters.ended.heartbeat_timeout ?? 0) - (before.counters.ended.heartbeat_timeout ?? 0);
        return cut === 1 && now.connections.total === before.connections.total - 1 ? now : null;
      },
      'the stalled stream to be closed',
      20_000,
    );
    assert.equal(ended.counters.ended.slow_consumer ?? 0, before.counters.ended.slow_consumer ?? 0);
    await reader.until(`${payload}${published}"`, 20_000);
    stalled.socket.destroy();
    reader.close();
  });
});

/** A stream request on a raw socket that reads the response head, then never reads again. */
async function openStalledStream(
  port: number,
  channel: string,
): Promise<{ socket: Socket; connected: string }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(`GET /stream?channel=${channel} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
  let text = '';
  await within(
    new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (!/\{"op":"connected".*\}\n/.test(text)) return;
        socket.off('data', onData);
        socket.pause();
        resolve();
      };
      socket.on('data', onData);
    }),
    'the stalled stream to connect',
  );
  return { socket, connected: /\{"op":"connected".*\}/.exec(text)![0] };
}

describe('the SDK after a network drop without a FIN', () => {
  let server: RunningPushwire;
  let proxy: ClientProxy;
  before(async () => {
    server = await startPushwire({ args: ['--admin-key', ADMIN_KEY, '--heartbeat-interval', '300ms'] });
    proxy = await startClientProxy(server.port);
  });
  after(async () => {
    await proxy.close();
    await server.stop();
  });

  for (const transport of ['websocket', 'sse', 'stream'] as const) {
    test(`${transport}: the reconnect ends the connection the network left open on the server`, async () => {
      const channel = `abandoned-${transport}`;
      // The previous test's client may still be closing.
      const base = await eventually(async () => {
        const now = await info(server);
        return now.connections.total === 0 ? now : null;
      }, 'no connections');
      const observed = nodeClient(proxy.url, [channel], { transports: [transport], baseDelayMs: 50 });
      try {
        await observed.next('connected');
        await observed.next('subscribed');
        await server.publish(channel, 'before');
        assert.equal((await observed.messages.next()).data, 'before');
        proxy.abandonAll();
        await observed.next('disconnected');
        await server.publish(channel, 'while away');
        await observed.next('connected');
        // The old connection ended before the new one opened: one session, not two.
        const now = await info(server);
        assert.equal(now.connections.total, base.connections.total + 1);
        assert.equal((now.counters.ended.replaced ?? 0) - (base.counters.ended.replaced ?? 0), 1);
        await server.publish(channel, 'after');
        const got = await observed.messages.take(2);
        assert.deepEqual(
          got.map((m) => m.data),
          ['while away', 'after'],
        );
      } finally {
        observed.client.close();
      }
    });
  }
});

describe('with --workers 2', () => {
  let server: RunningPushwire;
  before(async () => {
    server = await startPushwire({ args: ['--admin-key', ADMIN_KEY, '--workers', '2'] });
  });
  after(async () => {
    await server.stop();
  });

  /** The worker (node) that holds `clientId`, once the admin API lists it. */
  async function nodeOf(clientId: string): Promise<string> {
    return eventually(async () => {
      const { body } = await adminCall(server.url, '/api/connections?channel=dead-peers');
      return (body.connections as Array<{ clientId: string; node: string }>).find(
        (c) => c.clientId === clientId,
      )?.node;
    }, `the node of ${clientId}`);
  }

  test('a reconnect ends its old connection on whichever worker holds it', async () => {
    // Connections go to the workers in turn: a reconnect lands on the other one within a few tries.
    let crossed = false;
    for (let attempt = 0; attempt < 6 && !crossed; attempt++) {
      const first = await open(server, 'sse');
      const firstNode = await nodeOf(first.connected.clientId);
      const second = await open(server, 'sse', {
        clientId: first.connected.clientId,
        key: first.connected.replaceKey,
      });
      assert.equal(await within(first.ended, 'the old connection to end'), 'replaced');
      crossed = (await nodeOf(second.connected.clientId)) !== firstNode;
      second.close();
    }
    assert.ok(crossed, 'no reconnect landed on the other worker');
  });
});
