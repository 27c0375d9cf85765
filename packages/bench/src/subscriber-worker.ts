// A load-generator child process: opens its share of the subscribers, records what each one
// gets, and answers its parent over the IPC channel (messages in worker-protocol.ts).
import { Agent } from 'node:http';
import { DeliveryTracker } from './delivery-tracker.ts';
import { LatencyHistogram } from './histogram.ts';
import { openSubscriber, type Subscriber } from './subscribers.ts';
import { channelName, type Delivery, nowMicros, publishedOn, publishSlot, readDelivery } from './wire.ts';
import type { ToParent, ToWorker, WorkerReport, WorkerStart } from './worker-protocol.ts';

/** Connections being opened at once: enough to be quick, few enough not to overflow backlogs. */
const CONNECT_CONCURRENCY = 200;
const PROGRESS_INTERVAL_MS = 250;

interface Slot {
  subscriber: Subscriber;
  readonly tracker: DeliveryTracker;
  /** The channel's index among `target.channels`. */
  readonly channel: number;
  /** Live now (its subscription confirmed since the last (re)connect). */
  live: boolean;
}

const NOT_OPEN: Subscriber = { close() {}, reconnect() {} };
const slots: Slot[] = [];
const histogram = new LatencyHistogram();
const scratch: Delivery = { seq: 0, sentUs: 0, order: 0 };
let job: WorkerStart | null = null;
let lastDeliveryUs = 0;
let received = 0;
/** Subscribers that got a warm-up message (seq 0): proof that their subscription is live. */
let warm = 0;
let ready = 0;
let reconnected = 0;
/** A drop's reconnect wave is under way: `ready` counts as reconnected. */
let dropping = false;
let disconnected = 0;
/** Counts a subscriber's `ready` towards the current (re)connect wave. */
let onWaveReady: ((slot: Slot) => void) | null = null;
let onWaveFailed: (() => void) | null = null;
const closeReasons = new Map<string, number>();
const progressTimer = setInterval(
  () => send({ type: 'progress', ready, warm, received, reconnected }),
  PROGRESS_INTERVAL_MS,
);

function send(message: ToParent): void {
  if (process.connected) process.send?.(message);
}

// The runner is gone (stopped, or it crashed): nobody is left to report to.
process.once('disconnect', () => process.exit(0));

/**
 * Runs `open(i)` for i in 0..count−1 with at most CONNECT_CONCURRENCY connections being set
 * up at once; resolves when each has become live or failed, with how many of each.
 */
function wave(
  count: number,
  open: (index: number) => void,
): Promise<{ ok: number; failed: number; lastReadyUs: number }> {
  return new Promise((resolve) => {
    let next = 0;
    let ok = 0;
    let failed = 0;
    let lastReadyUs = 0;
    const settle = () => {
      if (ok + failed === count) {
        onWaveReady = null;
        onWaveFailed = null;
        resolve({ ok, failed, lastReadyUs });
      }
      // Not re-entered directly: a subscriber may report ready synchronously (Nchan long poll).
      else if (next < count) setImmediate(openNext);
    };
    const openNext = () => {
      if (next < count) open(next++);
    };
    onWaveReady = () => {
      ok += 1;
      lastReadyUs = nowMicros();
      settle();
    };
    onWaveFailed = () => {
      failed += 1;
      settle();
    };
    if (count === 0) resolve({ ok, failed, lastReadyUs });
    for (let i = 0; i < Math.min(CONNECT_CONCURRENCY, count); i++) openNext();
  });
}

async function start(start: WorkerStart): Promise<void> {
  job = start;
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 100_000 });
  const startedUs = nowMicros();
  const result = await wave(start.count, (i) => {
    const index = start.firstIndex + i;
    const channel = index % Math.max(1, start.target.channels);
    // In place before opening: a subscriber may report ready synchronously (Nchan long poll).
    const slot: Slot = {
      subscriber: NOT_OPEN,
      tracker: new DeliveryTracker(start.expectedMessages),
      channel,
      live: false,
    };
    slots.push(slot);
    slot.subscriber = openSubscriber(
      { ...start.target, channel: channelName(start.target.channel, start.target.channels, index) },
      { localAddress: start.localAddresses[i]!, pollAgent: agent },
      {
        ready() {
          if (slot.live) return;
          slot.live = true;
          ready += 1;
          if (dropping) reconnected += 1;
          onWaveReady?.(slot);
        },
        messages(text) {
          onMessages(text, slot.tracker, start.target.orderBy);
        },
        closed(reason) {
          closeReasons.set(reason, (closeReasons.get(reason) ?? 0) + 1);
          if (slot.live) {
            slot.live = false;
            ready -= 1;
            disconnected += 1;
          } else onWaveFailed?.();
        },
      },
    );
  });
  send({
    type: 'connected',
    ready: result.ok,
    failed: result.failed,
    startedUs,
    lastReadyUs: result.lastReadyUs,
  });
}

/**
 * Drops every live subscriber at once (all sockets destroyed in this one turn), then
 * reconnects them with their cursors, CONNECT_CONCURRENCY at a time.
 */
async function drop(): Promise<void> {
  const live = slots.filter((slot) => slot.live);
  for (const slot of live) {
    slot.subscriber.close();
    slot.live = false;
    ready -= 1;
  }
  reconnected = 0;
  dropping = true;
  const result = await wave(live.length, (i) => live[i]!.subscriber.reconnect());
  dropping = false;
  reconnected = result.ok;
  send({ type: 'reconnected', ready: result.ok, failed: result.failed, lastReadyUs: result.lastReadyUs });
}

function onMessages(text: string, tracker: DeliveryTracker, orderBy: 'offset' | 'seq'): void {
  const now = nowMicros();
  let from = 0;
  for (;;) {
    from = readDelivery(text, from, orderBy, scratch);
    if (from === -1) break;
    if (scratch.seq === 0) {
      if (!tracker.warm) warm += 1;
      tracker.warm = true;
      continue;
    }
    if (!tracker.record(scratch.seq, scratch.order)) continue;
    received += 1;
    histogram.record(now - scratch.sentUs);
  }
  lastDeliveryUs = now;
}

function report(published: number, failed: readonly number[]): WorkerReport {
  const channels = Math.max(1, job?.target.channels ?? 1);
  // The refused publishes, as the seqs each channel expected and never got.
  const failedByChannel = new Map<number, number[]>();
  for (const k of failed) {
    const { channel, seq } = publishSlot(k, channels);
    failedByChannel.set(channel, [...(failedByChannel.get(channel) ?? []), seq]);
  }
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  for (const { tracker, channel } of slots) {
    const refused = failedByChannel.get(channel) ?? [];
    lost +=
      tracker.lost(publishedOn(channel, published, channels)) -
      refused.filter((seq) => !tracker.has(seq)).length;
    duplicated += tracker.duplicated;
    reordered += tracker.reordered;
  }
  return {
    type: 'report',
    received,
    lost,
    duplicated,
    reordered,
    disconnected,
    closeReasons: [...closeReasons],
    lastDeliveryUs,
    latency: histogram.toSparse(),
  };
}

process.on('message', (message: ToWorker) => {
  const fail = (error: unknown) => send({ type: 'failed', message: String(error) });
  if (message.type === 'start') start(message).catch(fail);
  else if (message.type === 'drop') drop().catch(fail);
  else if (message.type === 'report') send(report(message.published, message.failed));
  else if (message.type === 'close') {
    clearInterval(progressTimer);
    for (const slot of slots) slot.subscriber.close();
    process.disconnect?.();
    // Destroyed sockets close on the next turns; nothing else is left to wait for.
    setImmediate(() => process.exit(0));
  }
});
send({ type: 'hello' });
