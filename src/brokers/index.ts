export { IpcBroker, type IpcBrokerOptions, type IpcLink } from './ipc/broker.ts';
export { BrokerHost, type HostPort } from './ipc/host.ts';
export { LocalCluster } from './local-cluster.ts';
export { MemoryBroker, type MemoryBrokerOptions, type MemoryBrokerStats } from './memory.ts';
export { RedisBroker, type RedisBrokerOptions } from './redis/broker.ts';
export {
  createClient as createRedisClient,
  type RedisClient,
  redactRedisUrl,
} from './redis/connection.ts';
export type {
  Broker,
  BrokerCluster,
  BrokerHandler,
  BrokerHealth,
  ChannelCount,
  ChannelPage,
  ChannelQuery,
  ChannelTurn,
  ClientRoster,
  ClusterHandler,
  ClusterRequest,
  ClusterView,
  ConnectedClient,
  HistoryQuery,
  HistoryResult,
  Logger,
  LostNode,
  NodeInfo,
  NodeLease,
  NodeReply,
  OccupancyChange,
  PresenceInfo,
  PresenceStore,
  PublishOptions,
  RevocationStore,
} from './types.ts';
export { hasCluster, hasHealth } from './types.ts';
