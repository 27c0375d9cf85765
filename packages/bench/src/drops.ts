import type { ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { extname, join } from 'node:path';
import type { DropMode } from './drop-network.ts';
import type { DropsToParent, DropsToWorker, DropsWorkerResult, SdkTransport } from './drops-protocol.ts';
import { LatencyHistogram, type LatencySummary } from './histogram.ts';
import { processTree, runQueueWaitNs, sampleProcesses } from './process-stats.ts';
import type { ProgressLine } from './progress.ts';
import { openPublishConnections, publishAtRate } from './publisher.ts';
import { generatorProfileArgs, type RunningTarget, spawnWithFileLimit } from './targets.ts';
import type { TransportName } from './wire.ts';

/** SDK clients per load-generator process at most. */
const CLIENTS_PER_WORKER = 2000;
/**
 * Long-poll clients cost their process about twice a streaming client's (a request per answer):
 * 2,000 in one child kept it at a full core, its timers up to 20 s late, and that lateness, not
 * the server's, was the replay p99. Half as many per child spread them over both cores.
 */
const POLL_CLIENTS_PER_WORKER = 1000;
/** Open files a child may fill with sockets: under its 20,000, with room for the rest. */
const SOCKETS_PER_WORKER = 18_000;

/**
 * Clients per child: a cut client holds one socket; a silent one also the proxy's two, plus the
 * upstream each of its drops leaves open to the end of the run. At 2,000 clients in one child,
 * two minutes of drops every 15 s filled its 20,000 open files before the end, and from then on
 * reconnects failed (EMFILE) until clients were away past the history and lost messages.
 */
function clientsPerWorker(
  params: Pick<DropsParams, 'mode' | 'durationMs' | 'periodMs' | 'jitterMs'>,
  transport: TransportName,
): number {
  const most = transport === 'poll' ? POLL_CLIENTS_PER_WORKER : CLIENTS_PER_WORKER;
  if (params.mode === 'cut') return most;
  const dropsEach = Math.ceil(params.durationMs / Math.max(1000, params.periodMs - params.jitterMs));
  return Math.max(1, Math.min(most, Math.floor(SOCKETS_PER_WORKER / (3 + dropsEach))));
}

/**
 * The load generator's children run at this nice level. The server and its clients share the
 * two cores here, and the scheduler shares a core evenly among runnable processes: five
 * children at 10,000 clients would get five shares to the server's one, starving the server
 * of the CPU it has on a machine of its own. Niced, the server runs whenever it has work; the
 * clients take what is left, and their own lateness shows in their event-loop delay.
 */
const GENERATOR_NICE = 10;
const START_TIMEOUT_MS = 180_000;
/**
 * Every client has a source address of its own (127.B.x.y, apart from the 127.0.B.x of the
 * other scenarios), and the silent proxy connects upstream from it too. A silent drop leaves
 * the proxy's upstream socket open on the client's address, so the ports in use on a shared
 * address only grow: at 1,000 clients on one address about 7,000 were taken after two minutes.
 * A bind to port 0 then got slow: libuv sets SO_REUSEADDR, with which Linux looks for a free
 * port in the lower half of the range, one parity first, and that half was full, so each bind
 * walked its ~7,000 ports (5 ms, against 35 us at the start). Two binds per reconnect took the
 * generator's core, the proxy stopped accepting in time, and clients waited out SYN
 * retransmits (1, 3, 7 s): time away that was the harness's, not the server's or the SDK's.
 */
function clientAddress(block: number, index: number): string {
  return `127.${1 + (block % 250)}.${Math.floor(index / 250) % 256}.${2 + (index % 250)}`;
}
/** A child reports within the finish timeout (30 s) and this margin. */
const RESULT_TIMEOUT_MS = 60_000;
const CHANNEL = 'drops';

export interface DropsParams {
  readonly clients: number;
  /** Messages per second on the one channel every client follows. */
  readonly rate: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
  readonly mode: DropMode;
  /** Each client's network drops every periodMs ± jitterMs, and stays away about awayMs. */
  readonly periodMs: number;
  readonly jitterMs: number;
  readonly awayMs: number;
  /** Picks the clients' source addresses (see clientAddress). */
  readonly block: number;
}

/** AnyCable's published harness: drops every ~15 s for ~2 s, at 2 msg/s, for 2 minutes. */
export const DROP_PROFILE = { periodMs: 15_000, jitterMs: 3000, awayMs: 2000 } as const;

export interface DropsResult {
  readonly mode: DropMode;
  readonly subscribers: number;
  readonly connectFailed: number;
  readonly published: number;
  /** Messages every client should have got: clients × publishes accepted. */
  readonly expected: number;
  /** Delivered exactly once and in order. */
  readonly delivered: number;
  readonly deliveredPercent: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  /** `gap` events the SDK reported (history could not fill a hole). */
  readonly gaps: number;
  /** Clients that never got the last message. */
  readonly incomplete: number;
  readonly drops: number;
  readonly reconnects: number;
  /** The SDK's connection attempts per drop, the failed ones while the network was down included. */
  readonly attemptsPerDrop: number;
  /** Publish → delivery of the messages that came through a resume (published while away). */
  readonly replay: LatencySummary;
  readonly live: LatencySummary;
  /** From a drop to the client's `connected` again: the outage plus the SDK's backoff. */
  readonly away: LatencySummary;
  /** From the network's return to the client's `connected` again: `away` without the outage. */
  readonly back: LatencySummary;
  /** The most connections the server held at once while clients dropped (sampled each second). */
  readonly serverConnectionsMax: number;
  /** serverConnectionsMax / clients: what dead peers piled up (silent: the server half is left open). */
  readonly serverConnectionsRatio: number;
  /**
   * Who is busy while clients drop, from utime + stime in /proc each second, as % of one core:
   * the server (all its processes), and the load-generator children (the mean over children).
   * A side that sits near 100 % is the bottleneck; the machine has 2 cores for both.
   */
  readonly serverCpu: CpuSummary;
  readonly generatorCpu: CpuSummary;
  readonly generatorChildren: number;
  /** The load generator's event-loop delay (worst child): how late its clients' timers and reads ran. */
  readonly generatorLoopDelayP99Ms: number;
  readonly generatorLoopDelayMaxMs: number;
  /**
   * Time the server was runnable but waited for a core, % of the wall time (/proc schedstat):
   * a server with low CPU and high wait was starved by the other processes, not idle.
   */
  readonly serverRunQueueWait: CpuSummary;
  /**
   * Per second: [seconds since publishing began, server CPU %, generator CPU % (all children),
   * server connections, server run-queue wait %].
   */
  readonly timeline: readonly (readonly [number, number, number, number, number])[];
}

export interface CpuSummary {
  /** Mean over the seconds of publishing, % of one core. */
  readonly meanPercent: number;
  /** The busiest second. */
  readonly maxPercent: number;
}

interface Worker {
  readonly child: ChildProcess;
  readonly inbox: DropsToParent[];
  waiter: (() => void) | null;
  ready: number;
  drops: number;
  reconnects: number;
}

const SDK_NAMES: Readonly<Record<TransportName, SdkTransport>> = {
  ws: 'websocket',
  sse: 'sse',
  poll: 'longpoll',
  stream: 'stream',
};

/**
 * The network-drop scenario: `clients` SDK clients on one channel at `rate` msg/s, each one's
 * network dropped every period for about `awayMs` (cut, or silent: the server half left open),
 * reconnected and resumed by the SDK's own logic. Pushwire only: it needs the SDK.
 */
export async function runDrops(
  running: RunningTarget,
  transport: TransportName,
  params: DropsParams,
  progress: ProgressLine,
): Promise<DropsResult> {
  const port = Number(new URL(running.baseUrl).port);
  const workers = spawnWorkers(Math.max(1, Math.ceil(params.clients / clientsPerWorker(params, transport))));
  const sampler = new ConnectionSampler(
    running.baseUrl,
    running.pid,
    workers.map((w) => w.child.pid ?? 0),
  );
  try {
    await Promise.all(workers.map((w) => next(w, 'hello', START_TIMEOUT_MS)));
    let first = 0;
    workers.forEach((worker, w) => {
      const share =
        Math.floor(params.clients / workers.length) + (w < params.clients % workers.length ? 1 : 0);
      const localAddresses = Array.from({ length: share }, (_, i) => clientAddress(params.block, first + i));
      first += share;
      send(worker, {
        type: 'start',
        port,
        transport: SDK_NAMES[transport],
        channel: CHANNEL,
        count: share,
        localAddresses,
        mode: params.mode,
        connectTimeoutMs: START_TIMEOUT_MS - 10_000,
      });
    });
    let publishingSince = 0;
    const onProgress = (what: 'connect' | 'drops') => {
      const ready = sum(workers.map((w) => w.ready));
      const drops = sum(workers.map((w) => w.drops));
      const back = sum(workers.map((w) => w.reconnects));
      const fraction =
        what === 'connect' ? ready / params.clients : (Date.now() - publishingSince) / params.durationMs;
      progress.update(
        what,
        fraction,
        `${ready} live, drops ${drops}, back ${back}, server conns ${sampler.last}`,
      );
    };
    for (const worker of workers) worker.waiter = () => onProgress('connect');
    const ready = sum(
      (await Promise.all(workers.map((w) => next(w, 'ready', START_TIMEOUT_MS)))).map((r) => r.ready),
    );
    const plan = { channel: CHANNEL, channels: 1, inFlight: 1, payloadBytes: params.payloadBytes };
    const agent = await openPublishConnections(running, plan);
    publishingSince = Date.now();
    for (const worker of workers) worker.waiter = () => onProgress('drops');
    sampler.start(() => onProgress('drops'));
    for (const worker of workers) {
      send(worker, {
        type: 'drops',
        periodMs: params.periodMs,
        jitterMs: params.jitterMs,
        awayMs: params.awayMs,
      });
    }
    const outcome = await publishAtRate(
      running,
      { ...plan, rate: params.rate, durationMs: params.durationMs },
      agent,
    );
    const accepted = outcome.published - outcome.failedSeqs.length;
    for (const worker of workers) send(worker, { type: 'finish', expected: accepted });
    const results = (await Promise.all(workers.map((w) => next(w, 'result', RESULT_TIMEOUT_MS)))).map(
      (m) => m.result,
    );
    sampler.stop();
    return summarize(params, ready, accepted, outcome.published, results, sampler);
  } finally {
    sampler.stop();
    await closeWorkers(workers);
  }
}

function summarize(
  params: DropsParams,
  ready: number,
  accepted: number,
  published: number,
  results: readonly DropsWorkerResult[],
  sampler: ConnectionSampler,
): DropsResult {
  const serverMax = sampler.max;
  const children = Math.max(1, results.length);
  const merged = (pick: (r: DropsWorkerResult) => number[]) => {
    const histogram = new LatencyHistogram();
    for (const result of results) histogram.addSparse(pick(result));
    return histogram.summary();
  };
  const total = (pick: (r: DropsWorkerResult) => number) => sum(results.map(pick));
  const expected = params.clients * accepted;
  const delivered = total((r) => r.inOrder);
  return {
    mode: params.mode,
    subscribers: params.clients,
    connectFailed: params.clients - ready,
    published,
    expected,
    delivered,
    deliveredPercent: expected === 0 ? 100 : Math.floor((delivered / expected) * 100_000) / 1000,
    lost: expected - delivered,
    duplicated: total((r) => r.duplicated),
    reordered: total((r) => r.skipped),
    gaps: total((r) => r.gaps),
    incomplete: total((r) => r.incomplete),
    drops: total((r) => r.drops),
    reconnects: total((r) => r.reconnects),
    attemptsPerDrop:
      Math.round(
        (total((r) => r.attempts ?? 0) /
          Math.max(
            1,
            total((r) => r.drops),
          )) *
          10,
      ) / 10,
    replay: merged((r) => r.replay),
    live: merged((r) => r.live),
    away: merged((r) => r.away),
    back: merged((r) => r.back),
    serverConnectionsMax: serverMax,
    serverConnectionsRatio: Math.round((serverMax / Math.max(1, params.clients)) * 100) / 100,
    serverCpu: cpuSummary(sampler.timeline.map((s) => s[1])),
    generatorCpu: cpuSummary(sampler.timeline.map((s) => s[2] / children)),
    generatorChildren: results.length,
    generatorLoopDelayP99Ms: Math.max(0, ...results.map((r) => r.loopDelayP99Ms)),
    generatorLoopDelayMaxMs: Math.max(0, ...results.map((r) => r.loopDelayMaxMs)),
    serverRunQueueWait: cpuSummary(sampler.timeline.map((s) => s[4])),
    timeline: sampler.timeline,
  };
}

/**
 * A scrape of /metrics costs the server time in proportion to its connections (prom-client's
 * default process metrics list every handle and open file): every second it was several % of
 * the server's CPU at 10,000 clients, so the connection count is read less often than the CPU.
 */
const METRICS_EVERY_S = 3;

/**
 * Each second: the CPU time the server and the load-generator children spent since the last
 * one, and the server's open connections (`pushwire_connections_open`, every transport) as of
 * the last scrape.
 */
class ConnectionSampler {
  max = 0;
  last = 0;
  readonly timeline: [number, number, number, number, number][] = [];
  private timer: NodeJS.Timeout | null = null;
  private since = 0;
  private cpu = { at: 0, server: 0, generator: 0, serverWaitNs: 0 };

  constructor(
    private readonly baseUrl: string,
    private readonly serverPid: number,
    private readonly generatorPids: readonly number[],
  ) {}

  start(onSample: () => void): void {
    this.since = Date.now();
    this.cpu = this.readCpu();
    let second = 0;
    this.timer = setInterval(() => {
      this.sampleCpu();
      if (second++ % METRICS_EVERY_S !== 0) return onSample();
      this.sample()
        .then(onSample)
        .catch(() => {});
    }, 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private readCpu() {
    const server = processTree([this.serverPid]);
    return {
      at: performance.now(),
      server: sampleProcesses(server).cpuMs,
      serverWaitNs: runQueueWaitNs(server),
      generator: sampleProcesses(this.generatorPids).cpuMs,
    };
  }

  private sampleCpu(): void {
    const now = this.readCpu();
    const wallMs = now.at - this.cpu.at;
    const percent = (cpuMs: number) => Math.round((cpuMs / wallMs) * 100);
    this.timeline.push([
      Math.round((Date.now() - this.since) / 1000),
      percent(now.server - this.cpu.server),
      percent(now.generator - this.cpu.generator),
      this.last,
      percent((now.serverWaitNs - this.cpu.serverWaitNs) / 1e6),
    ]);
    this.cpu = now;
  }

  private async sample(): Promise<void> {
    const text = await (await fetch(`${this.baseUrl}/metrics`)).text();
    let open = 0;
    for (const match of text.matchAll(/^pushwire_connections_open\{[^}]*\} (\d+)/gm))
      open += Number(match[1]);
    this.last = open;
    this.max = Math.max(this.max, open);
  }
}

function cpuSummary(percents: readonly number[]): CpuSummary {
  if (percents.length === 0) return { meanPercent: 0, maxPercent: 0 };
  return {
    meanPercent: Math.round(sum(percents) / percents.length),
    maxPercent: Math.round(Math.max(...percents)),
  };
}

function spawnWorkers(count: number): Worker[] {
  const file = join(import.meta.dirname, `drops-worker${extname(import.meta.filename)}`);
  const loader = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
  // The SDK as this process resolves it (the sources under @pushwire/source).
  const conditions = process.execArgv.filter((arg) => arg.startsWith('--conditions'));
  return Array.from({ length: count }, () => {
    // With `--profile`, the generator's children are profiled too: what a client's reconnect costs.
    const profile = generatorProfileArgs('generator');
    const child = spawnWithFileLimit(process.execPath, [...profile, ...conditions, ...loader, file], 'ipc');
    if (child.pid !== undefined) setPriority(child.pid, GENERATOR_NICE);
    const worker: Worker = { child, inbox: [], waiter: null, ready: 0, drops: 0, reconnects: 0 };
    child.on('message', (message: DropsToParent) => {
      if (message.type === 'progress') {
        worker.ready = message.ready;
        worker.drops = message.drops;
        worker.reconnects = message.reconnects;
      } else worker.inbox.push(message);
      worker.waiter?.();
    });
    child.on('exit', () => worker.waiter?.());
    return worker;
  });
}

async function closeWorkers(workers: readonly Worker[]): Promise<void> {
  await Promise.all(
    workers.map(
      ({ child }) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => {
            clearTimeout(timer);
            done();
          });
          if (child.connected) child.send({ type: 'close' } satisfies DropsToWorker);
          else child.kill('SIGTERM');
        }),
    ),
  );
}

function send(worker: Worker, message: DropsToWorker): void {
  if (worker.child.connected) worker.child.send(message);
}

/** The next message of `type` from a worker, or its failure (exit, timeout). */
function next<T extends DropsToParent['type']>(
  worker: Worker,
  type: T,
  timeoutMs: number,
): Promise<Extract<DropsToParent, { type: T }>> {
  const progress = worker.waiter;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`drop scenario: no "${type}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (error: Error | null, value?: Extract<DropsToParent, { type: T }>) => {
      clearTimeout(timer);
      worker.waiter = progress;
      if (error) reject(error);
      else resolve(value!);
    };
    const check = () => {
      progress?.();
      const index = worker.inbox.findIndex((m) => m.type === type);
      if (index !== -1) finish(null, worker.inbox.splice(index, 1)[0] as Extract<DropsToParent, { type: T }>);
      else if (worker.child.exitCode !== null || worker.child.signalCode !== null)
        finish(new Error(`drop scenario child exited (${worker.child.exitCode ?? worker.child.signalCode})`));
    };
    worker.waiter = check;
    check();
  });
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
