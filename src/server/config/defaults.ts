import type { Config } from './types.ts';

/** Every option's default. The only place a default value is written down. */
export const DEFAULTS: Config = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  apiKey: null,
  adminKey: null,
  internalPort: null,
  internalHost: '127.0.0.1',
  revocationTtlMs: 86_400_000, // 24 hours
  heartbeatIntervalMs: 15_000, // 15 seconds
  heartbeatTimeoutMs: 10_000, // 10 seconds: a peer silent for 25 s is dead
  // 25 seconds: under the 30 s idle TTL of the strictest common browsers and proxies.
  pollTimeoutMs: 25_000,
  historySize: 100,
  historyTtlMs: 300_000, // 5 minutes
  // 2 minutes: a long poll comes back a moment after its answer and a client on a flaky network
  // within seconds, but 10,000 clients reconnecting at once to one busy process take minutes;
  // under load 100 messages can be less than one second. Socket.IO recovers 2 minutes too.
  historyMinAgeMs: 120_000,
  clientPublish: false,
  presence: false,
  clientPublishRate: 50, // per second: a game's 20 moves/s plus chat, with room to spare
  // Per second: a few players behind one NAT or office proxy, each at the connection rate.
  clientPublishRatePerIp: 200,
  // Per second: subscribing to every channel the connection may have (100) fits in one burst.
  maxCommandsPerSecond: 100,
  maxHistoryMemory: 256 * 1024 * 1024, // 256 MiB
  maxHistoryChannels: 100_000,
  maxOutboundMemory: 512 * 1024 * 1024, // 512 MiB: 128 connections at the 4 MiB slow-consumer cut
  // 60 seconds: how long a dead node's clients stay listed in presence.
  presenceTtlMs: 60_000,
  maxMessageBytes: 65_536, // 64 KiB
  maxChannelsPerConnection: 100,
  broker: 'memory',
  redisUrl: 'redis://127.0.0.1:6379',
  redisPrefix: 'pushwire',
  redisShards: Object.freeze([]),
  redisCluster: false,
  // 15 seconds: how long after a node dies its clients' disconnects (node_lost) are told.
  nodeLeaseMs: 15_000,
  tokenSecret: null,
  tokenJwksUrl: null,
  tokenPublicKey: null,
  tokenAudience: null,
  tokenIssuer: null,
  tokenMaxAgeMs: null,
  // Pushwire and the application that mints tokens usually share NTP: expiry is taken literally.
  tokenClockSkewMs: 0,
  public: false,
  hookUrl: null,
  hookSecret: null,
  hooks: true,
  hookPublishEvents: false,
  // About 30 MB of events: minutes of connects and disconnects of a busy node.
  hookQueueSize: 100_000,
  connectHookUrl: null,
  subscribeHookUrl: null,
  subscribeHook: false,
  publishHookUrl: null,
  publishHook: false,
  hookTimeoutMs: 3_000, // 3 seconds: a connect waits for it
  hookConcurrency: 100,
  corsOrigins: Object.freeze([]), // the server's own origin only
  maxConnections: 10_000,
  // Room for many users behind one NAT; far below what exhausts the server.
  maxConnectionsPerIp: 1_000,
  trustProxy: Object.freeze([]),
  requestTimeoutMs: 30_000, // 30 seconds for headers and body
  // Above the 60 s idle timeout of common load balancers, so that they, not the server, close
  // first; and a long-poll client's next poll finds its connection still open.
  keepAliveTimeoutMs: 65_000,
  shutdownTimeoutMs: 10_000, // 10 seconds
  workers: 1,
  pidFile: null,
  logLevel: 'info',
  logFormat: 'auto', // pretty when stderr is a terminal, JSON lines otherwise
  demo: true,
  namespaces: Object.freeze({}),
});
