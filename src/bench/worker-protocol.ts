import type { SubscribeTarget } from './wire.ts';

/** Parent → load-generator child. */
export type ToWorker =
  | WorkerStart
  /** Publishing is over: 1..publishedSeqs were sent, of which failedSeqs were refused. */
  | { type: 'report'; publishedSeqs: number; failedSeqs: number[] }
  | { type: 'close' };

export interface WorkerStart {
  type: 'start';
  target: SubscribeTarget;
  count: number;
  /** The source address of each of this child's subscribers (spreads ephemeral ports). */
  localAddresses: string[];
  /** Sizes each subscriber's record of seen messages. */
  expectedMessages: number;
}

/** Child → parent. */
export type ToParent =
  | { type: 'connected'; ready: number; failed: number }
  | { type: 'progress'; ready: number; warm: number; received: number }
  | WorkerReport
  | { type: 'failed'; message: string };

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
