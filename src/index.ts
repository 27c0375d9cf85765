// The public library surface of the `pushwire` package: nothing else is public.
export type {
  Broker,
  BrokerHandler,
  HistoryQuery,
  HistoryResult,
  PresenceInfo,
  PublishOptions,
  RedisBrokerOptions,
} from './brokers/index.ts';
export { MemoryBroker, RedisBroker } from './brokers/index.ts';
export {
  type Cursor,
  ERROR_CODES,
  type ErrorCode,
  type GapEvent,
  type Message,
  PushwireError,
  type StreamPosition,
} from './protocol/index.ts';
export {
  type Config,
  ConfigError,
  createPushwire,
  DEFAULTS,
  loadConfig,
  type NamespaceOptions,
  type PublishResult,
  type Pushwire,
  type PushwireOptions,
  type RunningServer,
  startServer,
} from './server/index.ts';
