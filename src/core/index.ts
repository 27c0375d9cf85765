export {
  Access,
  type AccessHook,
  type AccessRequest,
  channelPatternMatches,
  grants,
  type ReadOp,
} from './access.ts';
export { REAL_SCHEDULER, type Scheduler } from './fan-out.ts';
export { type Hold, Hub, type HubOptions, type HubStats, type SessionFilter } from './hub.ts';
export { LATENCY_BUCKETS_SECONDS, LatencyHistogram } from './latency.ts';
export type {
  DisconnectReason,
  LifecycleEvent,
  LifecycleEventType,
  LifecycleListener,
  LifecycleOptions,
} from './lifecycle.ts';
export type { ChannelTurn, LostClient, NodeLoss, Occupancy, OccupancyEvents } from './occupancy.ts';
export { concatEncoded, OutboundBatch, OutboundMessage } from './outbound.ts';
export { addressKey, RateLimiter, TokenBucket } from './rate-limit.ts';
export { Session } from './session.ts';
export {
  ANONYMOUS,
  type ChannelOptions,
  type ChannelWatcher,
  type CloseRequest,
  type CommandResult,
  type Identity,
  type OpenSessionOptions,
  type PublishLimitKeys,
  type SessionCommand,
  type SessionSink,
  type SubscribeStart,
} from './types.ts';
