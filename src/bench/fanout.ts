import { LatencyHistogram, type LatencySummary } from './histogram.ts';
import { processTree, sampleProcesses } from './process-stats.ts';
import type { ProgressLine } from './progress.ts';
import { publishAtRate, publishOnce } from './publisher.ts';
import { SubscriberPool } from './subscriber-pool.ts';
import type { RunningTarget, TargetInfo } from './targets.ts';
import { benchPayload, nowMicros, type TransportName } from './wire.ts';

export interface FanoutParams {
  readonly subscribers: number;
  /** Messages per second. */
  readonly rate: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
  /** Distinguishes the source addresses of consecutive scenarios (see sourceAddress). */
  readonly block: number;
}

export interface FanoutResult {
  readonly subscribers: number;
  readonly connectFailed: number;
  readonly rate: number;
  readonly durationMs: number;
  readonly published: number;
  readonly publishFailed: number;
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
}

/** Settling time before RSS is read: lets the server finish the last handshakes' work. */
const SETTLE_MS = 500;
/** The longest the last deliveries are waited for once publishing is over. */
const DRAIN_TIMEOUT_MS = 10_000;
/** ... or until nothing arrived for this long. */
const DRAIN_IDLE_MS = 2000;
const WARM_UP_INTERVAL_MS = 1000;
const WARM_UP_TIMEOUT_MS = 60_000;

/**
 * Fan-out: N subscribers of one channel on one transport, one publisher at a fixed rate.
 * Also measures idle memory per connection, between start and "all N connected".
 */
export async function runFanout(
  target: TargetInfo,
  running: RunningTarget,
  transport: TransportName,
  params: FanoutParams,
  progress: ProgressLine,
): Promise<FanoutResult> {
  const channel = `bench${params.block}`;
  const expectedMessages = Math.max(1, Math.round((params.rate * params.durationMs) / 1000));
  await delay(SETTLE_MS);
  const idle = sampleProcesses(processTree([running.pid]));

  progress.update('connect', 0, `0/${params.subscribers}`);
  let connecting = true;
  const subscribeTarget = {
    dialect: target.dialect,
    transport,
    baseUrl: running.baseUrl,
    channel,
    orderBy: target.orderBy,
  };
  const { pool, ready, failed } = await SubscriberPool.open(
    subscribeTarget,
    params.subscribers,
    expectedMessages,
    params.block,
    (live) => {
      if (connecting) progress.update('connect', live / params.subscribers, `${live}/${params.subscribers}`);
    },
  );
  connecting = false;
  try {
    await warmUp(running, pool, channel, ready, params.payloadBytes);
    await delay(SETTLE_MS);
    const serverPids = processTree([running.pid]);
    const connected = sampleProcesses(serverPids);
    const generatorPids = processTree([process.pid]).filter((pid) => !serverPids.includes(pid));

    const generatorBefore = sampleProcesses(generatorPids);
    const startedUs = nowMicros();
    const outcome = await publishAtRate(running, {
      channel,
      rate: params.rate,
      durationMs: params.durationMs,
      payloadBytes: params.payloadBytes,
      serial: target.orderBy === 'seq',
      onAnswered: (answered) =>
        progress.update(
          'publish',
          answered / expectedMessages,
          `${answered}/${expectedMessages} msgs, ${pool.received} deliveries`,
        ),
    });
    const expected = (outcome.published - outcome.failedSeqs.length) * ready;
    await drain(pool, expected, (received) =>
      progress.update('drain', received / Math.max(1, expected), `${received}/${expected} deliveries`),
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
    const serverCpuMs = serverAfter.cpuMs - connected.cpuMs;
    return {
      subscribers: ready,
      connectFailed: failed,
      rate: params.rate,
      durationMs: params.durationMs,
      published: outcome.published,
      publishFailed: outcome.failedSeqs.length,
      expected,
      delivered,
      lost,
      duplicated,
      reordered,
      disconnected,
      deliveriesPerSec: Math.round(delivered / (windowUs / 1e6)),
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
    };
  } finally {
    await pool.close();
  }
}

/** Waits until every expected delivery is counted, or nothing more arrives. */
async function drain(
  pool: SubscriberPool,
  expected: number,
  onProgress: (received: number) => void,
): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  let last = -1;
  let lastChange = Date.now();
  while (Date.now() < deadline) {
    const received = pool.received;
    onProgress(received);
    if (received >= expected) return;
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > DRAIN_IDLE_MS) return;
    await delay(50);
  }
}

/**
 * Publishes warm-up messages (seq 0, not counted) until every live subscriber got one: the
 * proof that each subscription is in place on the server before measuring (a long poll or a
 * WebSocket may be open before the server has registered it), and JIT warm-up for the target.
 */
async function warmUp(
  running: RunningTarget,
  pool: SubscriberPool,
  channel: string,
  ready: number,
  payloadBytes: number,
): Promise<void> {
  const deadline = Date.now() + WARM_UP_TIMEOUT_MS;
  while (pool.warm < ready) {
    if (Date.now() > deadline) {
      throw new Error(
        `only ${pool.warm} of ${ready} subscribers got a warm-up message in ${WARM_UP_TIMEOUT_MS} ms`,
      );
    }
    await publishOnce(running, channel, benchPayload(0, nowMicros(), payloadBytes));
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
