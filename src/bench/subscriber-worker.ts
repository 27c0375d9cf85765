// A load-generator child process: opens its share of the subscribers, records what each one
// gets, and answers its parent over the IPC channel (messages in worker-protocol.ts).
import { Agent } from 'node:http';
import { DeliveryTracker } from './delivery-tracker.ts';
import { LatencyHistogram } from './histogram.ts';
import { openSubscriber, type Subscriber } from './subscribers.ts';
import { type Delivery, nowMicros, readDelivery } from './wire.ts';
import type { ToParent, ToWorker, WorkerReport, WorkerStart } from './worker-protocol.ts';

/** Connections being opened at once: enough to be quick, few enough not to overflow backlogs. */
const CONNECT_CONCURRENCY = 200;
const PROGRESS_INTERVAL_MS = 250;

const subscribers: Subscriber[] = [];
const trackers: DeliveryTracker[] = [];
const histogram = new LatencyHistogram();
const scratch: Delivery = { seq: 0, sentUs: 0, order: 0 };
let lastDeliveryUs = 0;
let received = 0;
/** Subscribers that got a warm-up message (seq 0): proof that their subscription is live. */
let warm = 0;
let disconnected = 0;
const closeReasons = new Map<string, number>();
let progressTimer: NodeJS.Timeout | null = null;

function send(message: ToParent): void {
  process.send?.(message);
}

async function start(job: WorkerStart): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 100_000 });
  let next = 0;
  let ready = 0;
  let failed = 0;
  const connecting = setInterval(
    () => send({ type: 'progress', ready, warm, received }),
    PROGRESS_INTERVAL_MS,
  );
  await new Promise<void>((resolve) => {
    const settle = () => {
      if (ready + failed === job.count) resolve();
      // Not re-entered directly: a subscriber may report ready synchronously (Nchan long poll).
      else if (next < job.count) setImmediate(openOne);
    };
    const openOne = () => {
      if (next >= job.count) return;
      const index = next++;
      const tracker = new DeliveryTracker(job.expectedMessages);
      let settled = false;
      const subscriber = openSubscriber(
        job.target,
        { localAddress: job.localAddresses[index]!, pollAgent: agent },
        {
          ready() {
            if (settled) return;
            settled = true;
            trackers.push(tracker);
            ready += 1;
            settle();
          },
          messages(text) {
            onMessages(text, tracker, job.target.orderBy);
          },
          closed(reason) {
            closeReasons.set(reason, (closeReasons.get(reason) ?? 0) + 1);
            if (settled) {
              disconnected += 1;
              return;
            }
            settled = true;
            failed += 1;
            settle();
          },
        },
      );
      subscribers.push(subscriber);
    };
    if (job.count === 0) resolve();
    for (let i = 0; i < Math.min(CONNECT_CONCURRENCY, job.count); i++) openOne();
  });
  clearInterval(connecting);
  progressTimer = setInterval(() => send({ type: 'progress', ready, warm, received }), PROGRESS_INTERVAL_MS);
  send({ type: 'connected', ready, failed });
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

function report(publishedSeqs: number, failedSeqs: readonly number[]): WorkerReport {
  let lost = 0;
  let duplicated = 0;
  let reordered = 0;
  for (const tracker of trackers) {
    lost += tracker.lost(publishedSeqs) - failedSeqs.filter((seq) => !tracker.has(seq)).length;
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
  if (message.type === 'start') {
    start(message).catch((error: unknown) => send({ type: 'failed', message: String(error) }));
  } else if (message.type === 'report') {
    send(report(message.publishedSeqs, message.failedSeqs));
  } else if (message.type === 'close') {
    if (progressTimer) clearInterval(progressTimer);
    for (const subscriber of subscribers) subscriber.close();
    process.disconnect?.();
    // Destroyed sockets close on the next turns; nothing else is left to wait for.
    setImmediate(() => process.exit(0));
  }
});
