/**
 * The shared vocabulary of the load generator: which wire a subscriber speaks, and how a
 * delivered message is read without parsing all of it. Every benchmark payload is
 * `{"seq":N,"t":MICROS,"pad":"..."}`, wrapped by the target in its own envelope.
 */

export const TRANSPORTS = ['ws', 'sse', 'poll', 'stream'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/**
 * How a target frames messages and subscriptions:
 * - `pushwire`: docs/protocol.md (the raw ceiling speaks the same subset);
 * - `socketio`: Engine.IO v4 + Socket.IO v5 packets over a WebSocket;
 * - `nchan`: the published body as is, at `/sub/CHANNEL`.
 */
export type Dialect = 'pushwire' | 'socketio' | 'nchan';

/** What a subscriber needs to connect. */
export interface SubscribeTarget {
  readonly dialect: Dialect;
  readonly transport: TransportName;
  /** `http://host:port` of the target. */
  readonly baseUrl: string;
  /** The channel, or with `channels` > 1 the prefix of each subscriber's (see channelName). */
  readonly channel: string;
  /** Subscriber i subscribes to channel `i mod channels` (1: every one to `channel`). */
  readonly channels: number;
  /** Order by the target's `offset` field, or by `seq` (targets that assign none). */
  readonly orderBy: 'offset' | 'seq';
  /** Keep the cursor of the last message, to reconnect with it (costs a scan per message). */
  readonly resume: boolean;
}

/**
 * The name of channel `index mod channels`: `prefix` itself for one channel, else
 * `prefix_K` (word characters only, which Nchan's `/sub/(\w+)` location needs).
 */
export function channelName(prefix: string, channels: number, index: number): string {
  return channels <= 1 ? prefix : `${prefix}_${index % channels}`;
}

/**
 * Publishes are numbered k = 1, 2, 3, ... and go round-robin over the channels: k goes to
 * channel (k − 1) mod channels, as that channel's `seq` ⌊(k − 1) / channels⌋ + 1. So every
 * channel's seqs run 1, 2, 3, ... and a subscriber's record stays as small as its share.
 */
export function publishSlot(k: number, channels: number): { channel: number; seq: number } {
  return { channel: (k - 1) % channels, seq: Math.floor((k - 1) / channels) + 1 };
}

/** How many of publishes 1..published went to channel `channel` (0-based). */
export function publishedOn(channel: number, published: number, channels: number): number {
  return channel < published % channels
    ? Math.floor(published / channels) + 1
    : Math.floor(published / channels);
}

export interface Delivery {
  seq: number;
  /** Publish time, microseconds on the system-wide monotonic clock (`nowMicros`). */
  sentUs: number;
  order: number;
}

/** Microseconds on CLOCK_MONOTONIC, which every process on the machine shares. */
export function nowMicros(): number {
  const [seconds, nanos] = process.hrtime();
  return seconds * 1e6 + nanos / 1e3;
}

/**
 * Reads seq, t and (when ordering by offset) the first `"offset":` of one message's text,
 * starting at `from`. Returns the index after the message's `"t":` value, or -1 when the text
 * holds no benchmark payload from there on (a control frame, a heartbeat, a reply).
 */
export function readDelivery(text: string, from: number, orderBy: 'offset' | 'seq', out: Delivery): number {
  const seqAt = text.indexOf('"seq":', from);
  if (seqAt === -1) return -1;
  out.seq = readInt(text, seqAt + 6);
  const tAt = text.indexOf('"t":', seqAt);
  out.sentUs = tAt === -1 ? Number.NaN : readInt(text, tAt + 4);
  if (orderBy === 'seq') out.order = out.seq;
  else {
    // Targets put `offset` before `data`; a target that puts it after still reads right.
    let offsetAt = text.lastIndexOf('"offset":', seqAt);
    if (offsetAt < from) offsetAt = text.indexOf('"offset":', seqAt);
    out.order = offsetAt === -1 ? Number.NaN : readInt(text, offsetAt + 9);
  }
  return tAt === -1 ? seqAt + 6 : tAt + 4;
}

function readInt(text: string, at: number): number {
  let value = 0;
  let i = at;
  for (; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return i === at ? Number.NaN : value;
}

/** The benchmark payload for message `seq`, padded so the message is about `bytes` long. */
export function benchPayload(seq: number, sentUs: number, bytes: number): string {
  const head = `{"seq":${seq},"t":${Math.round(sentUs)},"pad":"`;
  return `${head}${'x'.repeat(Math.max(0, bytes - head.length - 2))}"}`;
}
