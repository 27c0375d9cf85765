// Fan-out and publish throughput of the Redis broker path, with 1 and 2 Pushwire nodes.
//
//   npm run redis-fanout -w @pushwire/bench -- [--subscribers 1000] [--rate 100] [--seconds 10]
//                                              [--publishes 20000] [--in-flight 64]
//
// Starts its own redis-server (no persistence) on a free port and `pushwire serve` nodes on
// ephemeral loopback ports; stops every process it started, by PID, when done or after
// HARD_LIMIT_MS. Metrics:
// - fan-out: `subscribers` WebSocket clients split evenly over the nodes, one channel, a
//   publisher on the first node at `rate` msg/s for `seconds`. Deliveries/s = messages received
//   by all subscribers / (last receive - first publish). Latency = receive time - the send time
//   carried in the message (one machine, one clock). Lost = expected deliveries - received.
// - publish throughput: `publishes` publishes with `in-flight` outstanding at a time, through
//   POST /api/publish (keep-alive) and through RedisBroker.publish directly; msgs/s = count /
//   elapsed. Offsets assigned = count checks that none was dropped.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { RedisBroker } from 'pushwire';
import WebSocket from 'ws';
import { PACKAGE_ROOT, pushwireBin } from './src/targets.ts';

const HARD_LIMIT_MS = 5 * 60_000;
const WORKERS = 2;
const THROUGHPUT_LIMIT_MS = 10_000;
/** A subscriber that got nothing for this long after the last publish counts its misses as lost. */
const IDLE_LIMIT_MS = 10_000;
const KEEPALIVE_MS = 5_000;
// A worker thread doesn't inherit tsx's loader from `--import tsx`: it registers it itself,
// then loads this file, which runs subscriberWorker() off the main thread.
const WORKER_BOOT = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})
  .then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); })`;

interface Settings {
  readonly subscribers: number;
  readonly rate: number;
  readonly seconds: number;
  readonly publishes: number;
  readonly inFlight: number;
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across worker threads. */
const now = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------- subscriber worker

interface WorkerInput {
  readonly urls: readonly string[];
  readonly count: number;
  readonly channel: string;
}

interface WorkerResult {
  readonly received: number;
  readonly duplicated: number;
  readonly closed: number;
  readonly lastReceiveAt: number;
  readonly latencies: Float64Array;
}

/** Holds `count` WebSocket subscribers; records each message's latency and offset. */
async function subscriberWorker({ urls, count, channel }: WorkerInput): Promise<void> {
  const port = parentPort!;
  const latencies: number[] = [];
  const highest = new Int32Array(count);
  let received = 0;
  let duplicated = 0;
  let lastReceiveAt = 0;
  const sockets: WebSocket[] = [];
  /** Connections the server closed before the end (slow consumer, heartbeat timeout). */
  let closed = 0;
  let finishing = false;
  await Promise.all(
    Array.from({ length: count }, (_, i) => {
      const ws = new WebSocket(`${urls[i % urls.length]!.replace(/^http/, 'ws')}/ws`, {
        perMessageDeflate: false,
      });
      sockets.push(ws);
      return new Promise<void>((resolve, reject) => {
        ws.on('open', () => ws.send(JSON.stringify({ id: 1, op: 'subscribe', channel })));
        ws.on('error', reject);
        ws.on('close', () => {
          if (!finishing) closed += 1;
        });
        ws.on('message', (raw) => {
          const frame = JSON.parse(raw.toString()) as { op: string; offset?: number; data?: { t: number } };
          if (frame.op === 'reply') resolve();
          else if (frame.op === 'ping') ws.send('{"op":"pong"}');
          else if (frame.op === 'message') {
            const at = now();
            if (frame.offset! <= highest[i]!) duplicated += 1;
            else highest[i] = frame.offset!;
            received += 1;
            lastReceiveAt = at;
            latencies.push(at - frame.data!.t);
          }
        });
      });
    }),
  );
  // The node pings only connections it hasn't written to, yet drops peers it hasn't heard
  // from: on a busy channel a silent subscriber is cut after heartbeat + timeout (25 s).
  // Answering now and then keeps the measurement about fan-out.
  const keepalive = setInterval(() => {
    for (const ws of sockets) if (ws.readyState === WebSocket.OPEN) ws.send('{"op":"pong"}');
  }, KEEPALIVE_MS);
  port.postMessage({ type: 'ready' });
  port.on('message', (message: { type: string; expected: number; lastOffset: number }) => {
    if (message.type !== 'finish') return;
    clearInterval(keepalive);
    // Until every subscriber has the last offset, or nothing has arrived for IDLE_LIMIT_MS
    // (then the rest counts as lost).
    const askedAt = now();
    const check = setInterval(() => {
      const done = highest.every((offset) => offset >= message.lastOffset);
      if (!done && now() - Math.max(lastReceiveAt, askedAt) < IDLE_LIMIT_MS) return;
      clearInterval(check);
      finishing = true;
      for (const ws of sockets) ws.terminate();
      const buffer = new ArrayBuffer(latencies.length * Float64Array.BYTES_PER_ELEMENT);
      const result: WorkerResult = {
        received,
        duplicated,
        closed,
        lastReceiveAt,
        latencies: new Float64Array(buffer),
      };
      result.latencies.set(latencies);
      port.postMessage({ type: 'result', result }, [buffer]);
    }, 100);
  });
}

// ---------------------------------------------------------------- processes

const children = new Set<ChildProcess>();

function stopAll(): void {
  for (const child of children) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** Spawns a tracked child and resolves once `ready` matches its stdout. */
async function spawnUntil(
  command: string,
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, { cwd: PACKAGE_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start:\n${output}`)), 20_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = ready.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`${command} exited (${code}):\n${output}`)));
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return { child, match };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(child.pid!, 'SIGTERM');
  await exited;
}

async function startRedis(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const { child } = await spawnUntil('redis-server', args, /Ready to accept connections/);
  return { url: `redis://127.0.0.1:${port}`, child };
}

interface Node {
  readonly url: string;
  readonly child: ChildProcess;
}

async function startNode(redisUrl: string, prefix: string, apiKey: string): Promise<Node> {
  const args = [
    ...[pushwireBin(), 'serve', '--port', '0', '--host', '127.0.0.1'],
    ...['--api-key', apiKey, '--log-level', 'warn', '--no-demo'],
    ...['--max-connections', 'off', '--max-connections-per-ip', 'off'],
    ...['--broker', 'redis', '--redis-url', redisUrl, '--redis-prefix', prefix],
  ];
  const { child, match } = await spawnUntil(process.execPath, args, /Pushwire listening on (http:\/\/\S+)/);
  return { url: match[1]!, child };
}

// ---------------------------------------------------------------- scenarios

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * The offset of the publication, or null when the node answered 503 or couldn't be reached in
 * time (an overloaded node): counted as failed, not fatal.
 */
async function post(url: string, apiKey: string, channel: string, data: unknown): Promise<number | null> {
  let response: Response;
  try {
    response = await fetch(`${url}/api/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel, data }),
    });
  } catch {
    return null;
  }
  const body = (await response.json()) as { offset: number };
  if (response.status === 503) return null;
  if (!response.ok) throw new Error(`publish answered ${response.status}: ${JSON.stringify(body)}`);
  return body.offset;
}

interface FanoutRow {
  readonly nodes: number;
  readonly subscribers: number;
  readonly published: number;
  readonly failedPublishes: number;
  readonly expected: number;
  readonly received: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly closed: number;
  readonly deliveriesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

async function fanout(nodes: readonly Node[], apiKey: string, settings: Settings): Promise<FanoutRow> {
  const channel = `fanout-${nodes.length}`;
  const urls = nodes.map((node) => node.url);
  const perWorker = Math.ceil(settings.subscribers / WORKERS);
  // Each worker spreads its subscribers over the nodes round-robin.
  const workers = Array.from({ length: WORKERS }, (_, i) => {
    const count = Math.min(perWorker, settings.subscribers - i * perWorker);
    return new Worker(WORKER_BOOT, { eval: true, workerData: { urls, count, channel } });
  });
  const messages = workers.map((worker) => {
    const queue: { type: string; result?: WorkerResult }[] = [];
    const waiters: ((value: { type: string; result?: WorkerResult }) => void)[] = [];
    worker.on('message', (message) => {
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else queue.push(message);
    });
    worker.on('error', (error) => {
      console.error('subscriber worker failed:', error);
      stopAll();
      process.exit(1);
    });
    return () =>
      queue.length > 0
        ? Promise.resolve(queue.shift()!)
        : new Promise<{ type: string; result?: WorkerResult }>((resolve) => waiters.push(resolve));
  });
  await Promise.all(messages.map((next) => next()));

  // Open loop: each publish goes out on schedule, whether or not the one before has been
  // answered, so a slow answer doesn't lower the offered rate.
  const total = settings.rate * settings.seconds;
  const startedAt = now();
  const publishes: Promise<number | null>[] = [];
  for (let n = 0; n < total; n++) {
    const wait = startedAt + (n * 1000) / settings.rate - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const publishing = post(urls[0]!, apiKey, channel, { t: now() });
    // Handled by Promise.all below; without this a failure before then would end the process.
    publishing.catch(() => {});
    publishes.push(publishing);
  }
  const answers = await Promise.all(publishes);
  const offsets = answers.filter((offset) => offset !== null);
  // A fresh channel starts at offset 1. A failed publish (503 on a Redis command timeout, or a
  // node too busy to take the request) may still have been applied: its offset is then in the
  // range and delivered like the others.
  const lastOffset = Math.max(0, ...offsets);
  for (const worker of workers) worker.postMessage({ type: 'finish', lastOffset });
  const results = (await Promise.all(messages.map((next) => next()))).map((message) => message.result!);
  await Promise.all(workers.map((worker) => worker.terminate()));

  const published = lastOffset;
  const received = results.reduce((sum, r) => sum + r.received, 0);
  const expected = published * settings.subscribers;
  const latencies = new Float64Array(received);
  let at = 0;
  for (const r of results) {
    latencies.set(r.latencies, at);
    at += r.latencies.length;
  }
  latencies.sort();
  const lastReceiveAt = Math.max(...results.map((r) => r.lastReceiveAt));
  return {
    nodes: nodes.length,
    subscribers: settings.subscribers,
    published,
    failedPublishes: answers.length - offsets.length,
    expected,
    received,
    lost: Math.max(0, expected - received),
    duplicated: results.reduce((sum, r) => sum + r.duplicated, 0),
    closed: results.reduce((sum, r) => sum + r.closed, 0),
    deliveriesPerSecond: Math.round(received / ((lastReceiveAt - startedAt) / 1000)),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
  };
}

/**
 * Runs `count` calls of `publish`, `inFlight` at a time, for at most THROUGHPUT_LIMIT_MS;
 * returns msgs/s and how many distinct offsets were assigned.
 */
async function throughput(count: number, inFlight: number, publish: (n: number) => Promise<number | null>) {
  const deadline = Date.now() + THROUGHPUT_LIMIT_MS;
  const offsets = new Set<number>();
  let failed = 0;
  let next = 0;
  const startedAt = now();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next < count && Date.now() < deadline) {
        const offset = await publish(next++);
        if (offset === null) failed += 1;
        else offsets.add(offset);
      }
    }),
  );
  const seconds = (now() - startedAt) / 1000;
  return { count: offsets.size, failed, msgsPerSecond: Math.round(offsets.size / seconds), seconds };
}

// ---------------------------------------------------------------- main

function parseSettings(argv: readonly string[]): Settings {
  const values: Record<string, number> = {
    subscribers: 1000,
    rate: 100,
    seconds: 10,
    publishes: 20_000,
    'in-flight': 64,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!.replace(/^--/, '');
    const value = Number(argv[i + 1]);
    if (!(name in values) || !Number.isSafeInteger(value) || value <= 0) {
      throw new Error(
        `usage: [--subscribers N] [--rate N] [--seconds N] [--publishes N] [--in-flight N]; got ${argv[i]} ${argv[i + 1]}`,
      );
    }
    values[name] = value;
  }
  return {
    subscribers: values.subscribers!,
    rate: values.rate!,
    seconds: Math.min(values.seconds!, 60),
    publishes: values.publishes!,
    inFlight: values['in-flight']!,
  };
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const hardStop = setTimeout(() => {
    console.error(`bench: still running after ${HARD_LIMIT_MS / 1000} s; stopping`);
    stopAll();
    process.exit(1);
  }, HARD_LIMIT_MS);
  hardStop.unref();
  process.once('SIGINT', () => {
    stopAll();
    process.exit(130);
  });
  // Whatever ends the process (an uncaught error, EPIPE on a closed stdout), the children go too.
  process.once('exit', stopAll);

  const redis = await startRedis();
  const apiKey = randomBytes(12).toString('hex');
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  try {
    const nodes = await Promise.all([
      startNode(redis.url, prefix, apiKey),
      startNode(redis.url, prefix, apiKey),
    ]);
    console.log(`redis-server ${redis.url}; nodes ${nodes.map((n) => n.url).join(', ')}`);
    console.log(
      `fan-out: ${settings.subscribers} WebSocket subscribers, ${settings.rate} msg/s for ${settings.seconds} s`,
    );
    const rows: FanoutRow[] = [];
    for (const count of [1, 2]) {
      const row = await fanout(nodes.slice(0, count), apiKey, settings);
      rows.push(row);
      console.log(
        `  ${row.nodes} node(s): ${row.deliveriesPerSecond} deliveries/s, p50 ${row.p50Ms.toFixed(2)} ms, ` +
          `p99 ${row.p99Ms.toFixed(2)} ms, max ${row.maxMs.toFixed(1)} ms, ` +
          `${row.received}/${row.expected} received, ${row.lost} lost, ${row.duplicated} duplicated, ${row.closed} closed, ` +
          `${row.failedPublishes} publishes failed`,
      );
    }

    console.log(`publish throughput: ${settings.publishes} publishes, one channel`);
    const publishRows: object[] = [];
    for (const inFlight of [1, settings.inFlight]) {
      const http = await throughput(settings.publishes, inFlight, (n) =>
        post(nodes[0]!.url, apiKey, 'http-tput', n),
      );
      console.log(
        `  HTTP API, ${inFlight} in flight: ${http.msgsPerSecond} msgs/s (${http.count} in ${http.seconds.toFixed(1)} s, ${http.failed} failed)`,
      );
      publishRows.push({ path: 'http', inFlight, ...http });
    }
    const broker = new RedisBroker({ url: redis.url, prefix });
    await broker.start({ publication: () => {}, recovered: () => {} });
    // `pushwire serve`'s defaults: 100 messages, and at least the last 30 s, for 5 minutes.
    const options = { historySize: 100, historyTtlMs: 300_000, historyMinAgeMs: 30_000 };
    for (const inFlight of [1, settings.inFlight, settings.inFlight * 4]) {
      const direct = await throughput(settings.publishes, inFlight, (n) =>
        broker.publish('broker-tput', String(n), options).then(
          (publication) => publication.offset,
          () => null,
        ),
      );
      console.log(
        `  RedisBroker.publish, ${inFlight} in flight: ${direct.msgsPerSecond} msgs/s (${direct.count} in ${direct.seconds.toFixed(1)} s, ${direct.failed} failed)`,
      );
      publishRows.push({ path: 'broker', inFlight, ...direct });
    }
    await broker.close();
    console.log(JSON.stringify({ settings, fanout: rows, publish: publishRows }));
  } finally {
    await Promise.all([...children].map(stopChild));
  }
}

if (isMainThread) {
  main().catch((error: unknown) => {
    console.error(error);
    stopAll();
    process.exit(1);
  });
} else {
  await subscriberWorker(workerData as WorkerInput);
}
