import type { SubscribeTarget } from './wire.ts';

/** Parent → load-generator child. */
export type ToWorker =
  | WorkerStart
  /**
   * Publishing is over: publishes 1..published were sent round-robin over `target.channels`
   * (see publishSlot), of which `failed` (their k) were refused.
   */
  | { type: 'report'; published: number; failed: number[] }
  /** Drop every subscriber at once and reconnect each with the cursor of its last message. */
  | { type: 'drop' }
  | { type: 'close' };

export interface WorkerStart {
  type: 'start';
  target: SubscribeTarget;
  count: number;
  /** The index of this child's first subscriber among all (picks its channel). */
  firstIndex: number;
  /** The source address of each of this child's subscribers (spreads ephemeral ports). */
  localAddresses: string[];
  /** Sizes each subscriber's record of seen messages (it grows past that if needed). */
  expectedMessages: number;
}

/** Child → parent. */
export type ToParent =
  /** The child is up and listening: start messages sent to all children now start together. */
  | { type: 'hello' }
  | ConnectDone
  | { type: 'reconnected'; ready: number; failed: number; lastReadyUs: number }
  | { type: 'progress'; ready: number; warm: number; received: number; reconnected: number }
  | WorkerReport
  | { type: 'failed'; message: string };

export interface ConnectDone {
  type: 'connected';
  ready: number;
  failed: number;
  /** `nowMicros()` when the first connection attempt began and when the last became live. */
  startedUs: number;
  lastReadyUs: number;
}

export interface WorkerReport {
  type: 'report';
  /** Distinct messages delivered, summed over subscribers. */
  received: number;
  lost: number;
  duplicated: number;
  reordered: number;
  /** Subscriptions that ended during the run. */
  disconnected: number;
  closeReasons: [string, number][];
  /** When the last message arrived, `nowMicros()`. */
  lastDeliveryUs: number;
  /** LatencyHistogram.toSparse(). */
  latency: number[];
}
