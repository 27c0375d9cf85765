// A load-generator child of the network-drop scenario: `count` clients of the Pushwire SDK
// (its own reconnect, backoff and resume), each on a network of its own that drops every
// period ± jitter for about `awayMs`. It reports what each client got: exactly once, in order,
// and how late the messages were that came through a resume.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Message, Pushwire } from 'pushwire/client';
import { BlackholeProxy, ClientNetwork } from './drop-network.ts';
import type { DropsStart, DropsToParent, DropsToWorker, DropsWorkerResult } from './drops-protocol.ts';
import { LatencyHistogram } from './histogram.ts';
import { nowMicros } from './wire.ts';

/** Clients not yet complete this long after publishing ended are counted as they are. */
const FINISH_TIMEOUT_MS = 30_000;
const PROGRESS_EVERY_MS = 1000;

interface Client {
  readonly sdk: Pushwire;
  readonly network: ClientNetwork;
  lastOffset: number;
  inOrder: number;
  duplicated: number;
  skipped: number;
  gaps: number;
  subscribed: boolean;
  /** When its network went down (nowMicros), or null while it is up or back. */
  droppedUs: number | null;
  /** When its network came (or comes) back from the last drop (nowMicros). */
  networkBackUs: number;
  /** When its last reconnect after a drop said `connected` (nowMicros); 0 before any. */
  resumedUs: number;
  timer: NodeJS.Timeout | undefined;
}

const send = (message: DropsToParent) => process.send?.(message);

// The TypeScript loader turns source maps on; a Node app runs without them by default. With
// them, every error's stack (a failed connect while the network is down: streams read
// `err.stack` on destroy) is mapped back to the sources, a cost the SDK's users don't pay.
process.setSourceMapsEnabled(false);

let clients: Client[] = [];
let proxy: BlackholeProxy | null = null;
let dropping = false;
let drops = 0;
let reconnects = 0;
/** Connection attempts the SDK made to come back after drops (each `reconnecting`). */
let attempts = 0;
const replay = new LatencyHistogram();
const live = new LatencyHistogram();
/** From each drop to the client's `connected` again. */
const away = new LatencyHistogram();
/** From the network's return to the client's `connected`: the part of `away` that is not the outage. */
const back = new LatencyHistogram();
/** How late this process ran its clients' callbacks: a busy generator shows here first. */
const loopDelay = monitorEventLoopDelay({ resolution: 20 });

process.on('message', (message: DropsToWorker) => {
  if (message.type === 'start') void start(message);
  else if (message.type === 'drops') startDrops(message.periodMs, message.jitterMs, message.awayMs);
  else if (message.type === 'finish') void finish(message.expected);
  else if (message.type === 'close') void close();
});
send({ type: 'hello' });

async function start(spec: DropsStart): Promise<void> {
  if (spec.mode === 'silent') {
    proxy = new BlackholeProxy(spec.port);
    await proxy.start();
  }
  const port = proxy ? proxy.port : spec.port;
  const base = `http://127.0.0.1:${port}`;
  clients = spec.localAddresses.map((address) => openClient(base, port, address, spec));
  const progress = setInterval(report, PROGRESS_EVERY_MS);
  const deadline = Date.now() + spec.connectTimeoutMs;
  while (clients.some((c) => !c.subscribed) && Date.now() < deadline) await sleep(100);
  clearInterval(progress);
  setInterval(report, PROGRESS_EVERY_MS).unref();
  send({ type: 'ready', ready: clients.filter((c) => c.subscribed).length });
}

function openClient(base: string, port: number, localAddress: string, spec: DropsStart): Client {
  const network = new ClientNetwork(port, localAddress, proxy);
  const sdk = new Pushwire(base, {
    transports: [spec.transport],
    WebSocket: network.webSocketClass(),
    EventSource: network.eventSourceClass(),
    fetch: network.fetch,
    // Long polls go over node:http as the Node SDK's do by default, through this network.
    agent: network.agent,
  });
  const client: Client = {
    sdk,
    network,
    lastOffset: 0,
    inOrder: 0,
    duplicated: 0,
    skipped: 0,
    gaps: 0,
    subscribed: false,
    droppedUs: null,
    networkBackUs: 0,
    resumedUs: 0,
    timer: undefined,
  };
  sdk.on('subscribed', () => {
    client.subscribed = true;
  });
  sdk.on('connected', () => {
    if (client.droppedUs === null) return;
    const now = nowMicros();
    away.record(now - client.droppedUs);
    back.record(Math.max(0, now - client.networkBackUs));
    client.droppedUs = null;
    client.resumedUs = now;
    reconnects++;
  });
  sdk.on('reconnecting', () => {
    if (client.droppedUs !== null) attempts++;
  });
  sdk.on('gap', () => {
    client.gaps++;
  });
  sdk.subscribe(spec.channel, (message) => receive(client, message));
  return client;
}

function receive(client: Client, message: Message): void {
  const now = nowMicros();
  const { offset } = message;
  if (offset <= client.lastOffset) {
    client.duplicated++;
    return;
  }
  if (offset === client.lastOffset + 1) client.inOrder++;
  else client.skipped++;
  client.lastOffset = offset;
  const sentUs = (message.data as { t?: unknown } | null)?.t;
  if (typeof sentUs !== 'number') return;
  // Published before the link it came on was up: it came through the resume.
  if (sentUs < client.resumedUs) replay.record(now - sentUs);
  else live.record(now - sentUs);
}

function startDrops(periodMs: number, jitterMs: number, awayMs: number): void {
  dropping = true;
  loopDelay.enable();
  const schedule = (client: Client, inMs: number) => {
    client.timer = setTimeout(() => {
      if (!dropping) return;
      // A client still away from the last drop is not dropped again.
      if (client.droppedUs === null) {
        const outageMs = awayMs * (0.75 + Math.random() * 0.5);
        client.droppedUs = nowMicros();
        client.networkBackUs = client.droppedUs + outageMs * 1000;
        drops++;
        client.network.drop(outageMs);
      }
      schedule(client, periodMs + (Math.random() * 2 - 1) * jitterMs);
    }, inMs);
  };
  // The first drops spread over one period, so clients don't all drop together.
  for (const client of clients) schedule(client, Math.random() * periodMs);
}

async function finish(expected: number): Promise<void> {
  dropping = false;
  loopDelay.disable();
  for (const client of clients) clearTimeout(client.timer);
  const deadline = Date.now() + FINISH_TIMEOUT_MS;
  while (clients.some((c) => c.lastOffset < expected) && Date.now() < deadline) await sleep(200);
  const result: DropsWorkerResult = {
    clients: clients.length,
    inOrder: sum(clients.map((c) => c.inOrder)),
    duplicated: sum(clients.map((c) => c.duplicated)),
    skipped: sum(clients.map((c) => c.skipped)),
    gaps: sum(clients.map((c) => c.gaps)),
    incomplete: clients.filter((c) => c.lastOffset < expected).length,
    drops,
    reconnects,
    attempts,
    replay: replay.toSparse(),
    live: live.toSparse(),
    away: away.toSparse(),
    back: back.toSparse(),
    loopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e6),
    loopDelayMaxMs: Math.round(loopDelay.max / 1e6),
  };
  send({ type: 'result', result });
}

function report(): void {
  send({ type: 'progress', ready: clients.filter((c) => c.subscribed).length, drops, reconnects });
}

async function close(): Promise<void> {
  dropping = false;
  for (const client of clients) {
    clearTimeout(client.timer);
    client.sdk.close();
    client.network.close();
  }
  await proxy?.close();
  process.exit(0);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
