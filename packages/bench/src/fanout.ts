import { FloodProcess, type FloodStats } from './flood.ts';
import { LatencyHistogram, type LatencySummary } from './histogram.ts';
import { processTree, sampleProcesses } from './process-stats.ts';
import type { ProgressLine } from './progress.ts';
import {
  MAX_IN_FLIGHT,
  openPublishConnections,
  publishAtRate,
  publishOnce,
  publishToEach,
} from './publisher.ts';
import { SubscriberPool } from './subscriber-pool.ts';
import type { RunningTarget, TargetInfo } from './targets.ts';
import { benchPayload, nowMicros, type TransportName } from './wire.ts';

export interface FanoutParams {
  readonly subscribers: number;
  /** Messages per second (over all channels), or null: as fast as the target answers. */
  readonly rate: number | null;
  readonly durationMs: number;
  readonly payloadBytes: number;
  /** Distinguishes the source addresses of consecutive scenarios (see sourceAddress). */
  readonly block: number;
  /** Subscriber i listens on channel i mod channels; publishes go round-robin over them. */
  readonly channels: number;
  /** Publishes in flight at most (a target without offsets always gets 1). */
  readonly inFlight: number;
  /** Drop every subscriber this long after publishing began and reconnect it with its cursor. */
  readonly stormAtMs: number | null;
  /** The longest the last deliveries are waited for once publishing is over. */
  readonly drainTimeoutMs: number;
  /** ... or until nothing arrived for this long. */
  readonly drainIdleMs: number;
  /** Latency from the publish request (`send`) or from when the message was due (`schedule`). */
  readonly latencyFrom?: 'send' | 'schedule';
  /** One abusive WebSocket connection floods the server while publishing goes on. */
  readonly flood?: boolean;
}

/** The parameters of the plain fan-out: one channel, paced, no storm. */
export function fanoutParams(
  subscribers: number,
  rate: number,
  durationMs: number,
  payloadBytes: number,
  block: number,
): FanoutParams {
  return {
    subscribers,
    rate,
    durationMs,
    payloadBytes,
    block,
    channels: 1,
    inFlight: MAX_IN_FLIGHT,
    stormAtMs: null,
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
    drainIdleMs: DRAIN_IDLE_MS,
  };
}

/** The reconnect storm: all subscribers dropped at once, back with their cursors. */
export interface StormResult {
  /** Subscribers dropped. */
  readonly dropped: number;
  /** ... that were live again (subscribed from their cursor) by the end, and that failed. */
  readonly reconnected: number;
  readonly failed: number;
  /** From the drop until the last one was live again. */
  readonly allLiveMs: number;
  /** reconnected ÷ allLiveMs. */
  readonly reconnectsPerSec: number;
}

export interface FanoutResult {
  readonly subscribers: number;
  readonly connectFailed: number;
  readonly channels: number;
  /** Messages per second asked for; 0: as fast as the target answered. */
  readonly rate: number;
  readonly inFlight: number;
  readonly durationMs: number;
  readonly published: number;
  readonly publishFailed: number;
  /** Accepted publishes ÷ (last answer − first publish). */
  readonly publishesPerSec: number;
  /** Server CPU time ÷ accepted publishes (with no subscribers: the cost of the publish API). */
  readonly cpuPerPublishUs: number;
  /** published × live subscribers. */
  readonly expected: number;
  /** Distinct messages received, summed over subscribers. */
  readonly delivered: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  readonly disconnected: number;
  /** delivered ÷ (last delivery − first publish). */
  readonly deliveriesPerSec: number;
  readonly latency: LatencySummary;
  readonly publishRoundTrip: LatencySummary;
  readonly publishLagMs: number;
  /** Server CPU time (user + system, all its processes) from first publish to last delivery. */
  readonly serverCpuMs: number;
  readonly cpuPerDeliveryUs: number;
  /** The load generator's CPU over the same window, as a share of one core. */
  readonly generatorCpuPercent: number;
  readonly rssIdleKb: number;
  readonly rssConnectedKb: number;
  /** (RSS with the subscribers connected − RSS before) ÷ live subscribers. */
  readonly memoryPerConnectionKb: number;
  readonly closeReasons: Record<string, number>;
  readonly storm: StormResult | null;
  /** The flood scenario: what the flooder did, and the same run's latency without it. */
  readonly flood: FloodStats | null;
}

/** Settling time before RSS is read: lets the server finish the last handshakes' work. */
const SETTLE_MS = 500;
/** The longest the last deliveries are waited for once publishing is over (by default). */
const DRAIN_TIMEOUT_MS = 30_000;
/** ... or until nothing arrived for this long (by default) ... */
const DRAIN_IDLE_MS = 3000;
/**
 * ... as every child of the load generator says, having reported within this long: a child
 * reading a flood of long-poll answers can go seconds without a progress report, and its
 * silence was taken for the end of the deliveries.
 */
const HEARD_WITHIN_MS = 1000;
const WARM_UP_INTERVAL_MS = 1000;
const WARM_UP_TIMEOUT_MS = 60_000;

/**
 * Fan-out: N subscribers of one channel (or of `channels` channels) on one transport, one
 * publisher at a fixed rate (or as fast as the target answers), optionally with a reconnect
 * storm in the middle. Also measures memory per connection, between start and "all N connected".
 */
export async function runFanout(
  target: TargetInfo,
  running: RunningTarget,
  transport: TransportName,
  params: FanoutParams,
  progress: ProgressLine,
): Promise<FanoutResult> {
  const channel = `bench${params.block}`;
  const channels = Math.max(1, params.channels);
  const expectedMessages =
    params.rate === null ? 1024 : Math.max(1, Math.round((params.rate * params.durationMs) / 1000));
  const perChannel = Math.ceil(expectedMessages / channels);
  await delay(SETTLE_MS);
  const idle = sampleProcesses(processTree([running.pid]));

  progress.update('connect', 0, `0/${params.subscribers}`);
  let connecting = true;
  const { pool, ready, failed } = await SubscriberPool.open(
    {
      target: {
        dialect: target.dialect,
        transport,
        baseUrl: running.baseUrl,
        channel,
        channels,
        orderBy: target.orderBy,
        resume: params.stormAtMs !== null,
      },
      count: params.subscribers,
      expectedMessages: perChannel,
      block: params.block,
    },
    (live) => {
      if (connecting) progress.update('connect', live / params.subscribers, `${live}/${params.subscribers}`);
    },
  );
  connecting = false;
  try {
    await warmUp(running, pool, channel, channels, ready, params.payloadBytes, progress);
    const inFlight = target.orderBy === 'seq' ? 1 : params.inFlight;
    const connections = await openPublishConnections(running, {
      channel,
      inFlight,
      payloadBytes: params.payloadBytes,
    });
    await delay(SETTLE_MS);
    const serverPids = processTree([running.pid]);
    const connected = sampleProcesses(serverPids);
    const generatorPids = processTree([process.pid]).filter((pid) => !serverPids.includes(pid));

    const generatorBefore = sampleProcesses(generatorPids);
    const startedUs = nowMicros();
    let phase = 'publish';
    let stormOver = params.stormAtMs === null;
    const flooder = params.flood ? new FloodProcess(running.baseUrl) : null;
    // The flood is on before the first publish, so that every message is measured under it.
    await flooder?.flooding;
    const publishing = publishAtRate(
      running,
      {
        channel,
        channels,
        rate: params.rate,
        durationMs: params.durationMs,
        payloadBytes: params.payloadBytes,
        inFlight,
        latencyFrom: params.latencyFrom ?? 'send',
        // Publishing goes on until everyone is back from a storm.
        extendWhile: () => !stormOver,
        onAnswered: (answered) =>
          progress.update(
            phase,
            params.rate === null
              ? (nowMicros() - startedUs) / 1000 / params.durationMs
              : answered / expectedMessages,
            `${answered}${params.rate === null ? '' : `/${expectedMessages}`} msgs, ${pool.received} deliveries${phase === 'storm' ? `, ${pool.reconnected}/${ready} back` : ''}`,
          ),
      },
      connections,
    );
    const storm =
      params.stormAtMs === null
        ? null
        : runStorm(pool, ready, params.stormAtMs, () => {
            phase = 'storm';
          }).finally(() => {
            stormOver = true;
          });
    // Its failure is thrown below, once publishing is over: not an unhandled rejection before.
    storm?.catch(() => {});
    // The flood ends with the publishing: the drain measures what it left behind.
    const stopFlood = () => flooder?.stop() ?? Promise.resolve(null);
    let outcome: Awaited<typeof publishing>;
    try {
      outcome = await publishing;
    } catch (error) {
      await stopFlood().catch(() => {});
      throw error;
    }
    const flooding = await stopFlood();
    const stormResult = await storm;
    const accepted = outcome.published - outcome.failedSeqs.length;
    // Each publish reaches the subscribers of its channel: ready ÷ channels of them.
    const expected = (accepted * ready) / channels;
    await drain(pool, Math.round(expected), params.drainTimeoutMs, params.drainIdleMs, (received) =>
      progress.update(
        'drain',
        received / Math.max(1, expected),
        `${received}/${Math.round(expected)} deliveries`,
      ),
    );
    const serverAfter = sampleProcesses(serverPids);
    const generatorAfter = sampleProcesses(generatorPids);
    const endedUs = nowMicros();

    const reports = await pool.report(outcome.published, outcome.failedSeqs);
    const latency = new LatencyHistogram();
    const closeReasons: Record<string, number> = {};
    let delivered = 0;
    let lost = 0;
    let duplicated = 0;
    let reordered = 0;
    let disconnected = 0;
    let lastDeliveryUs = 0;
    for (const report of reports) {
      latency.addSparse(report.latency);
      delivered += report.received;
      lost += report.lost;
      duplicated += report.duplicated;
      reordered += report.reordered;
      disconnected += report.disconnected;
      lastDeliveryUs = Math.max(lastDeliveryUs, report.lastDeliveryUs);
      for (const [reason, n] of report.closeReasons) closeReasons[reason] = (closeReasons[reason] ?? 0) + n;
    }
    const windowUs = Math.max(1, (lastDeliveryUs || endedUs) - outcome.firstSentUs);
    const publishWindowUs = Math.max(1, outcome.lastAnsweredUs - outcome.firstSentUs);
    const serverCpuMs = serverAfter.cpuMs - connected.cpuMs;
    return {
      subscribers: ready,
      connectFailed: failed,
      channels,
      rate: params.rate ?? 0,
      inFlight,
      durationMs: params.durationMs,
      published: outcome.published,
      publishFailed: outcome.failedSeqs.length,
      publishesPerSec: Math.round(accepted / (publishWindowUs / 1e6)),
      cpuPerPublishUs: accepted > 0 ? round2((serverCpuMs * 1000) / accepted) : 0,
      expected: Math.round(expected),
      delivered,
      lost,
      duplicated,
      reordered,
      disconnected,
      deliveriesPerSec: delivered > 0 ? Math.round(delivered / (windowUs / 1e6)) : 0,
      latency: latency.summary(),
      publishRoundTrip: outcome.roundTrip,
      publishLagMs: outcome.lagMs,
      serverCpuMs,
      cpuPerDeliveryUs: delivered > 0 ? round2((serverCpuMs * 1000) / delivered) : 0,
      generatorCpuPercent: Math.round(
        ((generatorAfter.cpuMs - generatorBefore.cpuMs) / ((endedUs - startedUs) / 1000)) * 100,
      ),
      rssIdleKb: idle.rssKb,
      rssConnectedKb: connected.rssKb,
      memoryPerConnectionKb: ready > 0 ? round2((connected.rssKb - idle.rssKb) / ready) : 0,
      closeReasons,
      storm: stormResult,
      flood: flooding && { ...flooding, baselineP50Ms: 0, baselineP99Ms: 0, baselineMaxMs: 0 },
    };
  } finally {
    await pool.close();
  }
}

/** Waits `atMs`, drops every subscriber at once, and times until all are live again. */
async function runStorm(
  pool: SubscriberPool,
  dropped: number,
  atMs: number,
  onDrop: () => void,
): Promise<StormResult> {
  await delay(atMs);
  onDrop();
  const droppedUs = nowMicros();
  const back = await pool.drop();
  const allLiveMs = Math.max(0, (back.lastReadyUs - droppedUs) / 1000);
  return {
    dropped,
    reconnected: back.ready,
    failed: back.failed,
    allLiveMs: Math.round(allLiveMs),
    reconnectsPerSec: allLiveMs > 0 ? Math.round(back.ready / (allLiveMs / 1000)) : 0,
  };
}

/** Waits until every expected delivery is counted, or nothing more arrives. */
async function drain(
  pool: SubscriberPool,
  expected: number,
  timeoutMs: number,
  idleMs: number,
  onProgress: (received: number) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let lastChange = Date.now();
  while (Date.now() < deadline) {
    const received = pool.received;
    onProgress(received);
    if (received >= expected) return;
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > idleMs && pool.silentMs < HEARD_WITHIN_MS) return;
    await delay(50);
  }
}

/**
 * Publishes warm-up messages (seq 0, not counted) to every channel until every live subscriber
 * got one: the proof that each subscription is in place on the server before measuring (a long
 * poll or a WebSocket may be open before the server has registered it), and JIT warm-up.
 */
async function warmUp(
  running: RunningTarget,
  pool: SubscriberPool,
  channel: string,
  channels: number,
  ready: number,
  payloadBytes: number,
  progress: ProgressLine,
): Promise<void> {
  const deadline = Date.now() + WARM_UP_TIMEOUT_MS;
  while (pool.warm < ready) {
    if (Date.now() > deadline) {
      throw new Error(
        `only ${pool.warm} of ${ready} subscribers got a warm-up message in ${WARM_UP_TIMEOUT_MS} ms`,
      );
    }
    progress.update('warm-up', pool.warm / ready, `${pool.warm}/${ready}`);
    const payload = () => benchPayload(0, nowMicros(), payloadBytes);
    if (channels === 1) await publishOnce(running, channel, payload());
    else await publishToEach(running, channel, channels, payload);
    const sentAt = Date.now();
    while (pool.warm < ready && Date.now() - sentAt < WARM_UP_INTERVAL_MS) await delay(50);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
