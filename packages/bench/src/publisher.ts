import { Agent, request } from 'node:http';
import { LatencyHistogram, type LatencySummary } from './histogram.ts';
import type { RunningTarget } from './targets.ts';
import { benchPayload, channelName, nowMicros, publishSlot } from './wire.ts';

export interface PublishPlan {
  /** The channel, or with `channels` > 1 the prefix of their names (see channelName). */
  readonly channel: string;
  /** Publish k goes to channel (k − 1) mod channels, as its seq (see publishSlot). */
  readonly channels: number;
  /** Messages per second, or null: as fast as the target answers, `inFlight` at a time. */
  readonly rate: number | null;
  readonly durationMs: number;
  readonly payloadBytes: number;
  /**
   * Requests in flight at most. 1 makes the target see messages in seq order (for targets that
   * assign no offsets); more overlap, as concurrent publishers do.
   */
  readonly inFlight: number;
  /**
   * What a message's `t` (where its latency starts) is: when its request is written (`send`,
   * the default), or when it was due (`schedule`; paced publishing only). A target that
   * answers publishes slowly holds a publisher with `inFlight` outstanding back from its
   * schedule: measured from the send, the messages' wait in the publisher goes unseen, and
   * such a target looks faster than one that takes them and queues them itself.
   */
  readonly latencyFrom?: 'send' | 'schedule';
  /**
   * Past the scheduled count, go on publishing at the same rate while this holds (a reconnect
   * storm that is not over yet: a resumed long poll is only seen live when a message comes).
   * Bounded by EXTEND_LIMIT_MS.
   */
  readonly extendWhile?: () => boolean;
  /** Called after each answered publish with the number answered so far. */
  readonly onAnswered?: (answered: number) => void;
}

export interface PublishOutcome {
  /** Publishes 1..published were sent. */
  readonly published: number;
  /** The publishes (their k) the target refused or that failed on the way: not expected. */
  readonly failedSeqs: number[];
  readonly firstSentUs: number;
  readonly lastSentUs: number;
  /** When the last answer came back. */
  readonly lastAnsweredUs: number;
  /** How far behind schedule the last publish went out (the target answering too slowly). */
  readonly lagMs: number;
  /** Publish request round trips. */
  readonly roundTrip: LatencySummary;
}

/** Publishes in flight when overlapping: as a handful of busy application servers would. */
export const MAX_IN_FLIGHT = 64;
/** The most publishes one run sends when publishing as fast as it can (a bound, not a target). */
const MAX_UNPACED = 2_000_000;
/** The longest publishing goes on past `durationMs` for `extendWhile`. */
const EXTEND_LIMIT_MS = 180_000;

/**
 * Publishes `rate` messages per second for `durationMs`, each at its scheduled time (or, with
 * `rate` null, back to back with `inFlight` outstanding until `durationMs` is over).
 */
export async function publishAtRate(
  target: RunningTarget,
  plan: PublishPlan,
  agent: Agent,
): Promise<PublishOutcome> {
  const total =
    plan.rate === null ? MAX_UNPACED : Math.max(1, Math.round((plan.rate * plan.durationMs) / 1000));
  const intervalMs = plan.rate === null ? 0 : 1000 / plan.rate;
  const roundTrip = new LatencyHistogram();
  const failedSeqs: number[] = [];
  let inFlight = 0;
  let answered = 0;
  let firstSentUs = 0;
  let lastSentUs = 0;
  let lastAnsweredUs = 0;
  let lagMs = 0;
  let wakeSender: (() => void) | null = null;
  const limit = plan.inFlight;
  const channels = Math.max(1, plan.channels);
  const fromSchedule = plan.latencyFrom === 'schedule' && plan.rate !== null;

  const sendOne = (k: number) => {
    const sentUs = nowMicros();
    if (k === 1) firstSentUs = sentUs;
    lastSentUs = sentUs;
    const slot = publishSlot(k, channels);
    inFlight += 1;
    const done = (ok: boolean) => {
      inFlight -= 1;
      answered += 1;
      if (!ok) failedSeqs.push(k);
      lastAnsweredUs = nowMicros();
      roundTrip.record(lastAnsweredUs - sentUs);
      plan.onAnswered?.(answered);
      wakeSender?.();
    };
    const channel = channelName(plan.channel, channels, slot.channel);
    const stampUs = fromSchedule ? startUs + Math.round((k - 1) * intervalMs * 1000) : sentUs;
    post(target, agent, channel, benchPayload(slot.seq, stampUs, plan.payloadBytes)).then(done);
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
  // The same instant on the clock the payload's `t` is read on (nowMicros).
  const startUs = nowMicros();
  const endMs = startMs + plan.durationMs;
  const more = (k: number) =>
    k <= total ||
    (k <= MAX_UNPACED &&
      plan.extendWhile !== undefined &&
      plan.extendWhile() &&
      performance.now() < endMs + EXTEND_LIMIT_MS);
  let published = 0;
  for (let k = 1; more(k); k++) {
    const dueMs = startMs + (k - 1) * intervalMs;
    if (performance.now() < dueMs) await waitFor(() => false, dueMs);
    if (inFlight >= limit) await waitFor(() => inFlight < limit, null);
    if (plan.rate === null && performance.now() >= endMs) break;
    if (plan.rate !== null) lagMs = Math.max(lagMs, performance.now() - dueMs);
    sendOne(k);
    published = k;
  }
  await waitFor(() => inFlight === 0, null);
  agent.destroy();
  return {
    published,
    failedSeqs,
    firstSentUs,
    lastSentUs,
    lastAnsweredUs,
    lagMs: Math.round(lagMs),
    roundTrip: roundTrip.summary(),
  };
}

/**
 * Opens the publisher's `inFlight` keep-alive connections before its first timed publish (one
 * publish each, to a channel nobody follows), for publishAtRate, which closes them when done. A busy Node server accepts one connection per
 * event-loop turn: opened on demand, they queued behind the fan-out, and the first ~100
 * messages of a run at 400 msg/s to 1,000 long polls were 1.2–1.4 s late on every target,
 * which made a 5 s run's p99 that of its first quarter second. A publisher is an application
 * server with its connections long open: what is timed is the delivery, not the accept queue.
 */
export async function openPublishConnections(
  target: RunningTarget,
  plan: Pick<PublishPlan, 'channel' | 'inFlight' | 'payloadBytes'>,
): Promise<Agent> {
  const agent = new Agent({ keepAlive: true, maxSockets: plan.inFlight });
  const channel = `${plan.channel}connect`; // word characters only, as channelName's
  const payload = benchPayload(0, nowMicros(), plan.payloadBytes);
  await Promise.all(Array.from({ length: plan.inFlight }, () => post(target, agent, channel, payload)));
  return agent;
}

/** One publish on its own connection; resolves to whether the target accepted it. */
export function publishOnce(target: RunningTarget, channel: string, payload: string): Promise<boolean> {
  return post(target, false, channel, payload);
}

/**
 * One message to each of `channels` channels named after `prefix` (see channelName),
 * MAX_IN_FLIGHT at a time over keep-alive connections; resolves to how many were accepted.
 */
export async function publishToEach(
  target: RunningTarget,
  prefix: string,
  channels: number,
  payload: () => string,
): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  let next = 0;
  let accepted = 0;
  const lane = async () => {
    while (next < channels) {
      const channel = channelName(prefix, channels, next++);
      if (await post(target, agent, channel, payload())) accepted += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(MAX_IN_FLIGHT, channels) }, lane));
  agent.destroy();
  return accepted;
}

function post(
  target: RunningTarget,
  agent: Agent | false,
  channel: string,
  payload: string,
): Promise<boolean> {
  const url = new URL(target.baseUrl);
  const { path, headers, body } = target.publishRequest(channel, payload);
  return new Promise((resolve) => {
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
        res.on('end', () => resolve(res.statusCode !== undefined && res.statusCode < 300));
        res.on('error', () => resolve(false));
      },
    );
    req.on('error', () => resolve(false));
    req.end(body);
  });
}
