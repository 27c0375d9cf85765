import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Message, TransportName } from '../../src/client/index.ts';
import { nodeClient, type ObservedClient } from '../helpers/client-sdk.ts';
import { type ClientEvent, openRawClient, type RawClient, takeMessages } from '../helpers/clients.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pushwire-workers-'));
const pidFile = join(dir, 'pushwire.pid');
/** History holds every message of a test: a message could only be lost by the servers. */
const ADMIN_KEY = 'workers-test-admin-key-0123456789';
const ARGS = [
  ...['--workers', '2', '--history-size', '5000', '--shutdown-timeout', '5s', '--pid-file', pidFile],
  ...['--admin-key', ADMIN_KEY],
];
const SDK_TRANSPORTS: TransportName[] = ['websocket', 'sse', 'stream'];

/** The worker processes of a primary (not other children, such as tsx's esbuild service), by the name they take. */
function workerPids(primary: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(primary), '-x', 'pushwire worker'], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
}

/** `connected` names the node (the worker) that holds the connection. */
function nodeOf(event: ClientEvent): string {
  const { node } = event as { node?: unknown };
  assert.equal(typeof node, 'string', `connected names its node: ${JSON.stringify(event)}`);
  return node as string;
}

function note(text: string): void {
  if (process.env.PUSHWIRE_TEST_LOG) console.error(`[workers.test] ${text}`);
}

/**
 * Publishes on a connection of its own (node:cluster hands each new connection to the next
 * worker, so publishes go through every worker). Resolves with the offset, or null when the
 * worker went away under it.
 */
function publishFresh(server: RunningPushwire, channel: string, data: unknown): Promise<number | null> {
  const body = JSON.stringify({ channel, data });
  return new Promise((resolve) => {
    const req = request(
      `${server.url}/api/publish`,
      {
        method: 'POST',
        agent: false,
        headers: {
          Authorization: `Bearer ${server.apiKey}`,
          'Content-Type': 'application/json',
          Connection: 'close',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () =>
          resolve(res.statusCode === 200 ? (JSON.parse(text) as { offset: number }).offset : null),
        );
        res.on('error', () => resolve(null));
      },
    );
    req.on('error', () => resolve(null));
    // A connection handed to a worker as it was killed is never answered.
    req.setTimeout(5000, () => req.destroy());
    req.end(body);
  });
}

/** Which node (worker) holds the connection of `clientId`, as the admin API says. */
async function nodeHolding(server: RunningPushwire, clientId: string | null): Promise<string> {
  assert.ok(clientId, 'a client id');
  const response = await fetch(`${server.url}/api/connections`, {
    headers: { Authorization: `Bearer ${ADMIN_KEY}` },
  });
  const { connections } = (await response.json()) as { connections: { clientId: string; node: string }[] };
  const found = connections.find((c) => c.clientId === clientId);
  assert.ok(found, `the admin API lists ${clientId}`);
  return found.node;
}

/** SDK clients until they are connected to both workers (one per worker at least). */
async function clientsOnBothWorkers(server: RunningPushwire, channel: string, atLeast: number) {
  const clients: { observed: ObservedClient; node: string }[] = [];
  for (let i = 0; i < 20 && (clients.length < atLeast || new Set(clients.map((c) => c.node)).size < 2); i++) {
    const transport = SDK_TRANSPORTS[i % SDK_TRANSPORTS.length]!;
    const observed = nodeClient(server.url, [channel], { transports: [transport], baseDelayMs: 100 });
    const { clientId } = await observed.next('connected', 30_000);
    await observed.next('subscribed', 30_000);
    clients.push({ observed, node: await nodeHolding(server, clientId) });
  }
  assert.equal(new Set(clients.map((c) => c.node)).size, 2, 'clients on both workers');
  return clients;
}

/** What each client got: offsets 1..last, once each, in order, in one epoch. */
async function assertWhole(clients: readonly { observed: ObservedClient }[], last: number): Promise<void> {
  for (const { observed } of clients) {
    const got: Message[] = await observed.messages.take(last, 60_000);
    assert.deepEqual(
      got.map((m) => m.offset),
      Array.from({ length: last }, (_, i) => i + 1),
      'every message once, in order',
    );
    assert.equal(new Set(got.map((m) => m.epoch)).size, 1, 'one epoch');
    assert.equal(observed.messages.size, 0, 'nothing more');
  }
}

/**
 * Publishes 1, 2, … on fresh connections, paced, until `done()` and at least `min` landed,
 * bounded in count and time; `at(n)` runs before publish n. Returns the channel's last offset.
 */
async function publishWhile(
  server: RunningPushwire,
  channel: string,
  { min, done, at = () => {} }: { min: number; done: () => boolean; at?: (n: number) => void },
): Promise<number> {
  let last = 0;
  const deadline = Date.now() + 120_000;
  for (let n = 1; n <= 3000 && Date.now() < deadline && (n <= min || !done()); n++) {
    at(n);
    // A worker that dies under a publish may or may not have had it stored: the subscribers
    // then hold it or not, and what they must agree on is the channel's history.
    for (let attempt = 0; attempt < 50; attempt++) {
      const offset = await publishFresh(server, channel, n);
      if (offset !== null) {
        last = Math.max(last, offset);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return last;
}

function cli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: root },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    );
  });
}

describe('serve --workers 2', { timeout: 300_000 }, () => {
  let server: RunningPushwire;
  before(async () => {
    // Three processes compile the sources at once: on a loaded machine that takes a while.
    server = await startPushwire({ args: ARGS, startTimeoutMs: 120_000 });
  });
  after(async () => {
    const code = await server.stop();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, `a drained primary exits 0:\n${server.output().stderr}`);
  });

  test('both workers publish into one stream: every subscriber gets the same offsets, in order, once', {
    timeout: 180_000,
  }, async () => {
    const channel = 'workers-one-stream';
    const clients = await clientsOnBothWorkers(server, channel, 4);
    // A held poll is answered by its worker whichever worker took the publish.
    const poller = nodeClient(server.url, [channel], { transports: ['longpoll'], baseDelayMs: 100 });
    await poller.next('subscribed', 30_000);
    clients.push({ observed: poller, node: 'any' });
    // Concurrent publishes through both workers: one sequencer, or offsets would repeat.
    const offsets: (number | null)[] = [];
    for (let batch = 0; batch < 10; batch++) {
      offsets.push(
        ...(await Promise.all(
          Array.from({ length: 10 }, (_, i) => publishFresh(server, channel, batch * 10 + i)),
        )),
      );
    }
    assert.deepEqual(
      [...offsets].sort((a, b) => (a ?? 0) - (b ?? 0)),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    await assertWhole(clients, 100);
    for (const { observed } of clients) observed.client.close();

    // Whichever worker answers /metrics, it speaks for all of them and for the primary.
    const metrics = await (
      await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${ADMIN_KEY}` } })
    ).text();
    assert.match(metrics, /^pushwire_cluster_nodes 2$/m);
    const published = Number(/^pushwire_messages_published_total (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(published >= 100, `published on both workers together: ${published}`);
    assert.match(metrics, /^pushwire_history_bytes [1-9]\d*$/m, 'the history the primary holds');
  });

  test('a cursor from one worker resumes on the other', { timeout: 180_000 }, async () => {
    const channel = 'workers-resume';
    const first = openRawClient('websocket', server.url, { channels: [channel] });
    const firstNode = nodeOf(await first.events.next(30_000, 'connected'));
    await first.ready;
    for (let n = 1; n <= 3; n++) await server.publish(channel, n);
    const before = await takeMessages(first, 3, 30_000);
    const cursor = first.cursor();
    first.close();
    for (let n = 4; n <= 6; n++) await server.publish(channel, n);

    let other: RawClient | null = null;
    for (let i = 0; i < 10 && !other; i++) {
      const client = openRawClient('websocket', server.url, { channels: [channel], cursor });
      // Closing a client before its subscription is confirmed rejects `ready`: not a failure here.
      client.ready.catch(() => {});
      if (nodeOf(await client.events.next(30_000, 'connected')) !== firstNode) other = client;
      else client.close();
    }
    assert.ok(other, 'a connection reached the other worker');
    const resumed = await takeMessages(other, 3, 30_000);
    other.close();
    assert.deepEqual(
      [...before, ...resumed].map((m) => [m.offset, m.data]),
      [1, 2, 3, 4, 5, 6].map((n) => [n, n]),
    );
    assert.equal(resumed[0]!.epoch, before[0]!.epoch);
  });

  test('a worker killed (SIGKILL) mid-stream: every subscriber ends with every message', {
    timeout: 180_000,
  }, async () => {
    const channel = 'workers-kill';
    const clients = await clientsOnBothWorkers(server, channel, 6);
    const [victim] = workerPids(server.pid);
    assert.ok(victim, 'a worker to kill');
    let disconnected = 0;
    for (const { observed } of clients) observed.client.on('disconnected', () => disconnected++);
    const last = await publishWhile(server, channel, {
      min: 150,
      done: () => workerPids(server.pid).length === 2 && !workerPids(server.pid).includes(victim),
      at: (n) => {
        if (n === 50) process.kill(victim, 'SIGKILL');
      },
    });
    note(`kill: published up to offset ${last}`);
    await assertWhole(clients, last);
    assert.ok(disconnected > 0, "the killed worker's clients lost their connection");
    assert.match(server.output().stderr, /worker died/);
    for (const { observed } of clients) observed.client.close();
  });

  test('a rolling restart (pushwire reload) under load: nothing lost, nothing duplicated', {
    timeout: 180_000,
  }, async () => {
    const channel = 'workers-reload';
    const clients = await clientsOnBothWorkers(server, channel, 6);
    const old = workerPids(server.pid);
    assert.equal(old.length, 2);
    assert.equal(readFileSync(pidFile, 'utf8').trim(), String(server.pid), 'the pid file names the primary');
    let reload: Promise<string> | null = null;
    const replaced = () => {
      const now = workerPids(server.pid);
      return now.length === 2 && now.every((pid) => !old.includes(pid));
    };
    const last = await publishWhile(server, channel, {
      min: 100,
      done: replaced,
      at: (n) => {
        // `pushwire reload` reads the pid file and sends the primary SIGHUP.
        if (n === 30) reload = cli(['reload', '--pid-file', pidFile]);
      },
    });
    note(`reload: published up to offset ${last}`);
    assert.match(await reload!, /sent SIGHUP to \d+/);
    assert.ok(replaced(), 'both workers were replaced');
    await assertWhole(clients, last);
    for (const { observed } of clients) observed.client.close();
  });
});
