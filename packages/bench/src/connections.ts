import { type ProcessSample, processTree, sampleProcesses } from './process-stats.ts';
import type { ProgressLine } from './progress.ts';
import { SubscriberPool } from './subscriber-pool.ts';
import type { RunningTarget, TargetInfo } from './targets.ts';
import type { TransportName } from './wire.ts';

export interface ConnectionsParams {
  readonly subscribers: number;
  /** Distinguishes the source addresses of consecutive scenarios (see sourceAddress). */
  readonly block: number;
}

/** The `idle` and `connect` scenarios: N subscribers open, nothing published. */
export interface ConnectionsResult {
  /** Subscribers that became live (subscribed), and those that failed. */
  readonly subscribers: number;
  readonly connectFailed: number;
  /** From the first connection attempt until the last subscriber was live. */
  readonly connectMs: number;
  /** Live subscribers ÷ connectMs. */
  readonly connectionsPerSec: number;
  /** Server CPU time over the connecting, ÷ live subscribers. */
  readonly cpuPerConnectionUs: number;
  /** RSS once the freshly started server settled, and once it settled with N connected. */
  readonly rssIdleKb: number;
  readonly rssConnectedKb: number;
  /** (rssConnectedKb − rssIdleKb) ÷ live subscribers. */
  readonly memoryPerConnectionKb: number;
  /** How long RSS took to settle after the last subscriber was live. */
  readonly settleMs: number;
  /** Subscriptions that ended while idle. */
  readonly disconnected: number;
}

/** RSS is read this often while waiting for it to settle ... */
const SAMPLE_INTERVAL_MS = 500;
/** ... until two reads in a row differ by less than this share (or SETTLE_FLOOR_KB) ... */
const SETTLED_SHARE = 0.005;
const SETTLE_FLOOR_KB = 256;
/** ... or for at most this long (under the 15 s heartbeat, so idle stays idle). */
const SETTLE_TIMEOUT_MS = 10_000;

/**
 * Opens N subscribers and publishes nothing: measures how fast they are set up (every child
 * starts together; live = subscribed, as each transport confirms it) and, once the server's
 * RSS has settled, the memory each one holds.
 */
export async function runConnections(
  target: TargetInfo,
  running: RunningTarget,
  transport: TransportName,
  params: ConnectionsParams,
  progress: ProgressLine,
): Promise<ConnectionsResult> {
  const serverRoots = [running.pid];
  progress.update('settle', 0, 'idle server');
  const idle = await settle(serverRoots);
  let before: ProcessSample = idle.sample;
  let connecting = true;
  const opened = await SubscriberPool.open(
    {
      target: {
        dialect: target.dialect,
        transport,
        baseUrl: running.baseUrl,
        channel: `bench${params.block}`,
        channels: 1,
        orderBy: target.orderBy,
        resume: false,
      },
      count: params.subscribers,
      expectedMessages: 1,
      block: params.block,
    },
    (live) => {
      if (connecting) progress.update('connect', live / params.subscribers, `${live}/${params.subscribers}`);
    },
    () => {
      before = sampleProcesses(processTree(serverRoots));
    },
  );
  connecting = false;
  const after = sampleProcesses(processTree(serverRoots));
  const { pool, ready, failed } = opened;
  try {
    progress.update('settle', 0, `${ready} connected`);
    const connected = await settle(serverRoots);
    const connectMs = Math.max(0, (opened.lastReadyUs - opened.startedUs) / 1000);
    return {
      subscribers: ready,
      connectFailed: failed,
      connectMs: Math.round(connectMs),
      connectionsPerSec: connectMs > 0 ? Math.round(ready / (connectMs / 1000)) : 0,
      cpuPerConnectionUs: ready > 0 ? round2(((after.cpuMs - before.cpuMs) * 1000) / ready) : 0,
      rssIdleKb: idle.sample.rssKb,
      rssConnectedKb: connected.sample.rssKb,
      memoryPerConnectionKb: ready > 0 ? round2((connected.sample.rssKb - idle.sample.rssKb) / ready) : 0,
      settleMs: connected.settleMs,
      disconnected: ready - pool.ready,
    };
  } finally {
    await pool.close();
  }
}

/**
 * Reads the server's RSS until it stops moving: the allocations of the last handshakes done,
 * and whatever garbage the collector has not yet returned (RSS counts that too).
 */
export async function settle(roots: readonly number[]): Promise<{ sample: ProcessSample; settleMs: number }> {
  const started = Date.now();
  let last = sampleProcesses(processTree(roots));
  while (Date.now() - started < SETTLE_TIMEOUT_MS) {
    await delay(SAMPLE_INTERVAL_MS);
    const sample = sampleProcesses(processTree(roots));
    const moved = Math.abs(sample.rssKb - last.rssKb);
    last = sample;
    if (moved < Math.max(SETTLE_FLOOR_KB, sample.rssKb * SETTLED_SHARE)) break;
  }
  return { sample: last, settleMs: Date.now() - started };
}

function delay(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
