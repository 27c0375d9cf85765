export { MemoryBroker, type MemoryBrokerOptions } from './memory.ts';
export { RedisBroker, type RedisBrokerOptions } from './redis/broker.ts';
export {
  createClient as createRedisClient,
  type RedisClient,
  redactRedisUrl,
} from './redis/connection.ts';
export type {
  Broker,
  BrokerHandler,
  BrokerHealth,
  HistoryQuery,
  HistoryResult,
  Logger,
  PresenceInfo,
  PresenceStore,
  PublishOptions,
} from './types.ts';
export { hasHealth } from './types.ts';
