import { Agent, request } from 'node:http';
import { LatencyHistogram, type LatencySummary } from './histogram.ts';
import type { RunningTarget } from './targets.ts';
import { benchPayload, nowMicros } from './wire.ts';

export interface PublishPlan {
  readonly channel: string;
  /** Messages per second. */
  readonly rate: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
  /**
   * One request in flight at a time, so the target sees messages in seq order (for targets
   * that assign no offsets). Otherwise up to MAX_IN_FLIGHT overlap, as concurrent publishers.
   */
  readonly serial: boolean;
  /** Called after each answered publish with the number answered so far. */
  readonly onAnswered?: (answered: number) => void;
}

export interface PublishOutcome {
  /** Seqs 1..published were sent. */
  readonly published: number;
  /** Seqs the target refused or that failed on the way (not expected at subscribers). */
  readonly failedSeqs: number[];
  readonly firstSentUs: number;
  readonly lastSentUs: number;
  /** How far behind schedule the last publish went out (the target answering too slowly). */
  readonly lagMs: number;
  /** Publish request round trips. */
  readonly roundTrip: LatencySummary;
}

const MAX_IN_FLIGHT = 64;

/** Publishes `rate` messages per second for `durationMs`, each at its scheduled time. */
export async function publishAtRate(target: RunningTarget, plan: PublishPlan): Promise<PublishOutcome> {
  const url = new URL(target.baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: plan.serial ? 1 : MAX_IN_FLIGHT });
  const total = Math.max(1, Math.round((plan.rate * plan.durationMs) / 1000));
  const intervalMs = 1000 / plan.rate;
  const roundTrip = new LatencyHistogram();
  const failedSeqs: number[] = [];
  let inFlight = 0;
  let answered = 0;
  let firstSentUs = 0;
  let lastSentUs = 0;
  let lagMs = 0;
  let wakeSender: (() => void) | null = null;
  const limit = plan.serial ? 1 : MAX_IN_FLIGHT;

  const sendOne = (seq: number) => {
    const sentUs = nowMicros();
    if (seq === 1) firstSentUs = sentUs;
    lastSentUs = sentUs;
    const { path, headers, body } = target.publishRequest(
      plan.channel,
      benchPayload(seq, sentUs, plan.payloadBytes),
    );
    inFlight += 1;
    const done = (ok: boolean) => {
      inFlight -= 1;
      answered += 1;
      if (!ok) failedSeqs.push(seq);
      roundTrip.record(nowMicros() - sentUs);
      plan.onAnswered?.(answered);
      wakeSender?.();
    };
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        agent,
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode !== undefined && res.statusCode < 300));
        res.on('error', () => done(false));
      },
    );
    req.on('error', () => done(false));
    req.end(body);
  };

  const waitFor = (ready: () => boolean, untilMs: number | null) =>
    new Promise<void>((wake) => {
      if (ready()) return wake();
      const timer = untilMs === null ? null : setTimeout(finish, Math.max(0, untilMs - performance.now()));
      function finish() {
        if (timer) clearTimeout(timer);
        wakeSender = null;
        wake();
      }
      wakeSender = () => {
        if (ready()) finish();
      };
    });

  const startMs = performance.now();
  for (let seq = 1; seq <= total; seq++) {
    const dueMs = startMs + (seq - 1) * intervalMs;
    if (performance.now() < dueMs) await waitFor(() => false, dueMs);
    if (inFlight >= limit) await waitFor(() => inFlight < limit, null);
    lagMs = Math.max(lagMs, performance.now() - dueMs);
    sendOne(seq);
  }
  await waitFor(() => inFlight === 0, null);
  agent.destroy();
  return {
    published: total,
    failedSeqs,
    firstSentUs,
    lastSentUs,
    lagMs: Math.round(lagMs),
    roundTrip: roundTrip.summary(),
  };
}

/** One publish on its own connection; resolves to whether the target accepted it. */
export function publishOnce(target: RunningTarget, channel: string, payload: string): Promise<boolean> {
  const url = new URL(target.baseUrl);
  const { path, headers, body } = target.publishRequest(channel, payload);
  return new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        agent: false,
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode !== undefined && res.statusCode < 300));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}
