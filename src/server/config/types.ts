/** What a channel gets from its namespace (or from the top-level values when it has none). */
export interface NamespaceOptions {
  /** Messages kept per channel; 0 keeps none (offsets still rise). */
  readonly historySize: number;
  /** How long a message stays in history; null keeps it until pushed out by size. */
  readonly historyTtlMs: number | null;
  /** Messages younger than this stay in history whatever `historySize` says (0: count alone). */
  readonly historyMinAgeMs: number;
  /** Whether connected clients may publish (WebSocket `publish` op and HTTP). */
  readonly clientPublish: boolean;
  /** Whether the server tracks who is subscribed. */
  readonly presence: boolean;
  /** Whether the channel's lifecycle events (subscribe, occupied, …) go to `hookUrl`. */
  readonly hooks: boolean;
  /** Whether `subscribeHookUrl` is asked before each read (subscribe, history, presence). */
  readonly subscribeHook: boolean;
  /** Whether `publishHookUrl` is asked before each client publish. */
  readonly publishHook: boolean;
  /** Whether anyone connected may read the channel, whatever a token's `channels` claim grants. */
  readonly public: boolean;
}

/** The server's whole configuration: validated once by `loadConfig`, then deep-frozen. */
export interface Config {
  /** 0 picks a free (ephemeral) port. */
  readonly port: number;
  readonly host: string;
  /** Bearer key for `POST /api/publish`; null: `serve` generates one and prints it. */
  readonly apiKey: string | null;
  /** Bearer key for the admin API and the dashboard; null turns both off. */
  readonly adminKey: string | null;
  /** A second port for /metrics, the admin API and the dashboard; null serves them on `port`. */
  readonly internalPort: number | null;
  readonly internalHost: string;
  /** After a disconnect of a user, tokens of that user issued before it are refused this long. */
  readonly revocationTtlMs: number;
  /** Heartbeat after this much silence on a connection; null turns heartbeats off. */
  readonly heartbeatIntervalMs: number | null;
  /** A peer silent for heartbeat interval + this is dead. */
  readonly heartbeatTimeoutMs: number;
  /** How long a long-poll request is held before it answers with an empty list. */
  readonly pollTimeoutMs: number;
  readonly historySize: number;
  readonly historyTtlMs: number | null;
  readonly historyMinAgeMs: number;
  readonly clientPublish: boolean;
  readonly presence: boolean;
  /** Client publishes per second per connection (or HTTP connection), bursts of twice that; 0: no limit. */
  readonly clientPublishRate: number;
  /** Client publishes per second per client address, all its connections together; 0: no limit. */
  readonly clientPublishRatePerIp: number;
  /** WebSocket frames (commands, junk included) per second per connection, bursts of twice that; 0: no limit. */
  readonly maxCommandsPerSecond: number;
  /** Bytes of messages the memory broker keeps in history over all channels; past it the oldest go. */
  readonly maxHistoryMemory: number;
  /** Channels whose position and history the memory broker keeps; past it the least recently used unfollowed one goes. */
  readonly maxHistoryChannels: number;
  /** Bytes queued for sending over all connections; past it the connections with the most queued are cut. */
  readonly maxOutboundMemory: number;
  /** A presence entry expires after this long unless its node refreshes it (every third of it). */
  readonly presenceTtlMs: number;
  readonly maxMessageBytes: number;
  readonly maxChannelsPerConnection: number;
  readonly broker: 'memory' | 'redis';
  readonly redisUrl: string;
  readonly redisPrefix: string;
  /**
   * Independent Redis deployments to spread channels over by consistent hashing; every node
   * must list the same ones. Empty: `redisUrl` alone.
   */
  readonly redisShards: readonly string[];
  /** The Redis URLs name seed nodes of a Redis Cluster (sharded pub/sub). */
  readonly redisCluster: boolean;
  /**
   * On Redis, a node that has not renewed its lease for this long is lost: another node tells
   * its clients' disconnects (node_lost). Renewed every third of it.
   */
  readonly nodeLeaseMs: number;
  /** HS256 secret for connection JWTs (at least 32 bytes); null: no HS256 tokens. */
  readonly tokenSecret: string | null;
  /** A JWKS of the public keys that sign connection JWTs; null: none. */
  readonly tokenJwksUrl: string | null;
  /** A PEM file of the public key that signs connection JWTs; null: none. */
  readonly tokenPublicKey: string | null;
  /** Connection JWTs must carry this `aud`; null: not checked. */
  readonly tokenAudience: string | null;
  /** Connection JWTs must carry this `iss`; null: not checked. */
  readonly tokenIssuer: string | null;
  /** Connection JWTs whose `exp - iat` is longer are refused; null: any lifetime. */
  readonly tokenMaxAgeMs: number | null;
  /** `exp` and `nbf` are stretched this much; connections end at `exp` + this. */
  readonly tokenClockSkewMs: number;
  /** Anyone connected may read these channels, whatever a token grants. */
  readonly public: boolean;
  /** Where lifecycle events are POSTed; null sends none. */
  readonly hookUrl: string | null;
  /** Signs every hook request; required by every hook, at least 32 bytes. */
  readonly hookSecret: string | null;
  readonly hooks: boolean;
  readonly hookPublishEvents: boolean;
  /** Lifecycle events held while `hookUrl` can't take them; more are dropped (and counted). */
  readonly hookQueueSize: number;
  /** Asked on every connection who the client is and what it may do; null: tokens alone. */
  readonly connectHookUrl: string | null;
  readonly subscribeHookUrl: string | null;
  readonly subscribeHook: boolean;
  readonly publishHookUrl: string | null;
  readonly publishHook: boolean;
  readonly hookTimeoutMs: number;
  /** Requests in flight per authorization hook; more fail at once as `unavailable`. */
  readonly hookConcurrency: number;
  /** Origins whose pages may call besides the server's own; `*`: any page. */
  readonly corsOrigins: readonly string[];
  /** Open TCP connections in all; null: no limit. */
  readonly maxConnections: number | null;
  /** Open connections per client address; null: no limit. */
  readonly maxConnectionsPerIp: number | null;
  /** Proxies (addresses, networks) whose X-Forwarded-For names the client. */
  readonly trustProxy: readonly string[];
  /** A request's headers and body must arrive within this (`pushwire serve`). */
  readonly requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (`pushwire serve`). */
  readonly keepAliveTimeoutMs: number;
  /** How long a drain may take on shutdown before the remaining connections are cut. */
  readonly shutdownTimeoutMs: number;
  /** Worker processes of `serve` sharing the port; 1 serves from the one process. */
  readonly workers: number;
  /** Where `serve` writes its process id; null writes none. */
  readonly pidFile: string | null;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** `pretty`: one coloured line per entry, for people; `json`: pino's JSON lines; `auto`: pretty on a terminal. */
  readonly logFormat: 'auto' | 'json' | 'pretty';
  /** Serve a demo page at `/`. */
  readonly demo: boolean;
  /** Options of channels `ns:name`, by namespace `ns`, each fully resolved. */
  readonly namespaces: Readonly<Record<string, NamespaceOptions>>;
}
