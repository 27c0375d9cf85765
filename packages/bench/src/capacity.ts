import { settle } from './connections.ts';
import { LatencyHistogram, type LatencySummary } from './histogram.ts';
import { type ProcessSample, processTree, sampleProcesses } from './process-stats.ts';
import type { ProgressLine } from './progress.ts';
import { publishOnce } from './publisher.ts';
import { SubscriberPool } from './subscriber-pool.ts';
import type { RunningTarget, TargetInfo } from './targets.ts';
import { benchPayload, nowMicros, type TransportName } from './wire.ts';
import type { WorkerReport } from './worker-protocol.ts';

/** A share of the connections on one transport, in percent. */
export interface TransportShare {
  readonly transport: TransportName;
  readonly percent: number;
}

export interface CapacityParams {
  readonly connections: number;
  readonly mix: readonly TransportShare[];
  readonly holdMs: number;
  /** Server processes (Pushwire `serve --workers`, the raw cluster): stated with the result. */
  readonly workers: number;
  readonly payloadBytes: number;
  /** A fresh source-address block per transport (see sourceAddress). */
  readonly nextBlock: () => number;
}

/** One transport's share, opened on its own after the previous ones settled. */
export interface CapacityTransport {
  readonly transport: TransportName;
  readonly subscribers: number;
  readonly connectFailed: number;
  /** The server's RSS growth while this transport's connections were opened and settled. */
  readonly rssAddedKb: number;
  readonly memoryPerConnectionKb: number;
  /** Pushwire's /metrics count for this transport at the end of the hold (null for raw). */
  readonly serverOpenAtEnd: number | null;
}

/** What the generator and the server looked like at one moment of the hold. */
export interface CapacitySample {
  readonly atMs: number;
  /** Subscribers live as the generator sees them. */
  readonly live: number;
  /** Pushwire's pushwire_connections_open summed over transports and workers; null for raw. */
  readonly serverOpen: number | null;
  readonly rssKb: number;
  readonly cpuMs: number;
}

export interface CapacityResult {
  readonly connections: number;
  readonly connectFailed: number;
  readonly workers: number;
  readonly mix: string;
  /** From the first connection attempt until the last transport's last one was live. */
  readonly connectMs: number;
  readonly rssIdleKb: number;
  /** Settled with every connection open, before the hold. */
  readonly rssConnectedKb: number;
  readonly memoryPerConnectionKb: number;
  /** At the end of the hold (heartbeats and polls cycling all along). */
  readonly rssHeldKb: number;
  readonly memoryPerConnectionHeldKb: number;
  readonly byTransport: readonly CapacityTransport[];
  readonly holdMs: number;
  /** Subscriptions that ended from the first being live until the publish was delivered. */
  readonly disconnected: number;
  readonly closeReasons: Record<string, number>;
  readonly liveMin: number;
  readonly serverOpenMin: number | null;
  readonly serverOpenMax: number | null;
  /** Server CPU over the hold, as a share of one core. */
  readonly holdCpuPercent: number;
  readonly samples: readonly CapacitySample[];
  /** The one publish to the channel every connection follows. */
  readonly publishFailed: number;
  readonly delivered: number;
  readonly deliveredPercent: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  /** Publish → the last delivery, when every live subscriber got it; else null. */
  readonly allDeliveredMs: number | null;
  readonly latency: LatencySummary;
}

const SAMPLE_EVERY_MS = 5000;
/**
 * Opening a transport's share may take 180 s, or longer for a large share as long as it goes
 * at 50 connections/s at least: on a loaded 2-core machine 70,000 WebSockets took more.
 */
const CONNECT_TIMEOUT_MS = 180_000;
const CONNECT_FLOOR_MS_PER_CONNECTION = 20;
/** After the publish: wait for every delivery this long at most ... */
const DELIVERY_TIMEOUT_MS = 60_000;
/** ... or until none came for this long. */
const DELIVERY_IDLE_MS = 15_000;

/** `ws=70,sse=20,poll=10` → shares (they need not add to 100: they are weights). */
export function parseMix(text: string, allowed: readonly TransportName[]): TransportShare[] {
  const shares = text.split(',').map((part) => {
    const [name, value] = part.split('=').map((s) => s.trim());
    const percent = Number(value);
    if (!(allowed as readonly string[]).includes(name ?? '') || !(percent > 0)) {
      throw new Error(`--mix: "${part}" is not TRANSPORT=PERCENT with a transport of ${allowed.join(', ')}`);
    }
    return { transport: name as TransportName, percent };
  });
  if (new Set(shares.map((s) => s.transport)).size !== shares.length)
    throw new Error('--mix: a transport twice');
  return shares;
}

/** Splits `total` by the shares' weights, the rounding remainder to the first. */
export function splitByMix(total: number, mix: readonly TransportShare[]): number[] {
  const weight = mix.reduce((sum, s) => sum + s.percent, 0);
  const counts = mix.map((s) => Math.floor((total * s.percent) / weight));
  counts[0]! += total - counts.reduce((sum, c) => sum + c, 0);
  return counts;
}

/**
 * The `capacity` scenario: N idle connections in a transport mix, all following one channel,
 * held for a while with the server's heartbeats on; then one publish that every one must get.
 * The transports are opened one after the other, each settled before the next, so the RSS each
 * one adds is measured at full scale rather than apportioned by a guess.
 */
export async function runCapacity(
  target: TargetInfo,
  running: RunningTarget,
  params: CapacityParams,
  progress: ProgressLine,
): Promise<CapacityResult> {
  const roots = [running.pid];
  const rss = () => sampleProcesses(processTree(roots));
  const channel = `capacity${params.nextBlock()}`;
  const counts = splitByMix(params.connections, params.mix);
  progress.update('settle', 0, 'idle server');
  const idle = (await settle(roots)).sample;
  const pools: SubscriberPool[] = [];
  const byTransport: Omit<CapacityTransport, 'serverOpenAtEnd'>[] = [];
  let firstStartUs = 0;
  let lastReadyUs = 0;
  let opened = 0;
  let before: ProcessSample = idle;
  let connecting: TransportName | null = null;
  try {
    for (const [i, share] of params.mix.entries()) {
      const count = counts[i]!;
      if (count === 0) continue;
      connecting = share.transport;
      const result = await SubscriberPool.open(
        {
          target: {
            dialect: target.dialect,
            transport: share.transport,
            baseUrl: running.baseUrl,
            channel,
            channels: 1,
            orderBy: target.orderBy,
            resume: false,
          },
          count,
          expectedMessages: 1,
          block: params.nextBlock(),
          connectTimeoutMs: Math.max(CONNECT_TIMEOUT_MS, count * CONNECT_FLOOR_MS_PER_CONNECTION),
        },
        (live) => {
          // The children go on reporting after this transport is open: only its opening is shown.
          if (connecting !== share.transport) return;
          progress.update(
            `connect ${share.transport}`,
            (opened + live) / params.connections,
            `${opened + live}/${params.connections}`,
          );
        },
      );
      connecting = null;
      pools.push(result.pool);
      if (firstStartUs === 0) firstStartUs = result.startedUs;
      lastReadyUs = Math.max(lastReadyUs, result.lastReadyUs);
      opened += result.ready;
      progress.update(`settle ${share.transport}`, opened / params.connections, `${opened} live`);
      const after = (await settle(roots)).sample;
      byTransport.push({
        transport: share.transport,
        subscribers: result.ready,
        connectFailed: result.failed,
        rssAddedKb: after.rssKb - before.rssKb,
        memoryPerConnectionKb: result.ready > 0 ? round2((after.rssKb - before.rssKb) / result.ready) : 0,
      });
      before = after;
    }
    const connected = before;
    const live = () => pools.reduce((sum, pool) => sum + pool.ready, 0);

    // The hold: nothing published, the server's heartbeats and the long polls' cycles running.
    const samples: CapacitySample[] = [];
    const holdStart = Date.now();
    const holdCpuStart = rss().cpuMs;
    let lastOpen: Record<string, number> | null = null;
    while (Date.now() - holdStart < params.holdMs) {
      await delay(Math.min(SAMPLE_EVERY_MS, params.holdMs - (Date.now() - holdStart)));
      const server = rss();
      lastOpen = target.name === 'pushwire' ? await openByTransport(running.baseUrl) : null;
      const serverOpen = lastOpen ? Object.values(lastOpen).reduce((a, b) => a + b, 0) : null;
      const sample = {
        atMs: Date.now() - holdStart,
        live: live(),
        serverOpen,
        rssKb: server.rssKb,
        cpuMs: server.cpuMs,
      };
      samples.push(sample);
      progress.update(
        'hold',
        sample.atMs / params.holdMs,
        `live ${sample.live}/${opened}, server open ${serverOpen ?? 'n/a'}, RSS ${Math.round(sample.rssKb / 1024)} MB`,
      );
    }
    const held = rss();
    const holdCpuMs = held.cpuMs - holdCpuStart;

    // One message to the channel every connection follows.
    progress.update('publish', 0, `to ${live()} live`);
    const sentUs = nowMicros();
    const accepted = await publishOnce(running, channel, benchPayload(1, sentUs, params.payloadBytes));
    const expected = live();
    const deliveryStart = Date.now();
    let lastCount = -1;
    let lastMoved = Date.now();
    for (;;) {
      const got = pools.reduce((sum, pool) => sum + pool.received, 0);
      if (got !== lastCount) lastMoved = Date.now();
      lastCount = got;
      progress.update('deliver', got / Math.max(1, expected), `${got}/${expected}`);
      if (!accepted || got >= expected) break;
      if (Date.now() - deliveryStart > DELIVERY_TIMEOUT_MS || Date.now() - lastMoved > DELIVERY_IDLE_MS)
        break;
      await delay(100);
    }
    const reports: WorkerReport[] = (
      await Promise.all(pools.map((pool) => pool.report(1, accepted ? [] : [1])))
    ).flat();
    const histogram = new LatencyHistogram();
    for (const report of reports) histogram.addSparse(report.latency);
    const delivered = sum(reports.map((r) => r.received));
    const closeReasons: Record<string, number> = {};
    for (const report of reports)
      for (const [reason, count] of report.closeReasons)
        closeReasons[reason] = (closeReasons[reason] ?? 0) + count;
    const lastDeliveryUs = Math.max(0, ...reports.map((r) => r.lastDeliveryUs));
    const opens = samples.map((s) => s.serverOpen).filter((v): v is number => v !== null);
    return {
      connections: opened,
      connectFailed: sum(byTransport.map((t) => t.connectFailed)),
      workers: params.workers,
      mix: params.mix.map((s) => `${s.transport} ${s.percent}`).join(' / '),
      connectMs: Math.round(Math.max(0, lastReadyUs - firstStartUs) / 1000),
      rssIdleKb: idle.rssKb,
      rssConnectedKb: connected.rssKb,
      memoryPerConnectionKb: opened > 0 ? round2((connected.rssKb - idle.rssKb) / opened) : 0,
      rssHeldKb: held.rssKb,
      memoryPerConnectionHeldKb: opened > 0 ? round2((held.rssKb - idle.rssKb) / opened) : 0,
      byTransport: byTransport.map((t) => ({ ...t, serverOpenAtEnd: lastOpen?.[t.transport] ?? null })),
      holdMs: params.holdMs,
      disconnected: sum(reports.map((r) => r.disconnected)),
      closeReasons,
      liveMin: Math.min(opened, ...samples.map((s) => s.live)),
      serverOpenMin: opens.length > 0 ? Math.min(...opens) : null,
      serverOpenMax: opens.length > 0 ? Math.max(...opens) : null,
      holdCpuPercent: params.holdMs > 0 ? round2((holdCpuMs / params.holdMs) * 100) : 0,
      samples,
      publishFailed: accepted ? 0 : 1,
      delivered,
      deliveredPercent: expected > 0 ? round2((delivered / expected) * 100) : 0,
      lost: sum(reports.map((r) => r.lost)),
      duplicated: sum(reports.map((r) => r.duplicated)),
      reordered: sum(reports.map((r) => r.reordered)),
      allDeliveredMs:
        accepted && delivered >= expected && expected > 0 ? round2((lastDeliveryUs - sentUs) / 1000) : null,
      latency: histogram.summary(),
    };
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
  }
}

/** Pushwire's metrics name its transports in full; the bench by their short names. */
const METRIC_TRANSPORTS: Readonly<Record<string, TransportName>> = { websocket: 'ws', longpoll: 'poll' };

/** Pushwire's open connections by transport, summed over its workers (its /metrics does that). */
async function openByTransport(baseUrl: string): Promise<Record<string, number> | null> {
  try {
    const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(4000) })).text();
    const open: Record<string, number> = {};
    for (const match of text.matchAll(/^pushwire_connections_open\{([^}]*)\} (\d+)/gm)) {
      const name = /transport="([^"]+)"/.exec(match[1]!)?.[1] ?? 'other';
      const transport = METRIC_TRANSPORTS[name] ?? name;
      open[transport] = (open[transport] ?? 0) + Number(match[2]);
    }
    return open;
  } catch {
    return null;
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function delay(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, Math.max(0, ms)));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
