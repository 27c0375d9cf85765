import type { Config } from './types.ts';

/** Node's timers fire at once past this many milliseconds (a signed 32-bit delay). */
export const MAX_TIMER_MS = 2_147_483_647;

/** What values an option takes; `values.ts` parses and checks each kind. */
export type OptionKind =
  /** `nullable`: absent, null or `off` means null (the feature is off). */
  /** `auto`: the word auto means one per core the process may use. */
  | {
      readonly type: 'integer';
      readonly min: number;
      readonly max: number;
      readonly nullable?: boolean;
      readonly auto?: boolean;
    }
  /** `nullable`: 0 or `off` turns the feature off (null). */
  | { readonly type: 'duration'; readonly nullable: boolean; readonly minMs: number; readonly maxMs: number }
  | { readonly type: 'bytes'; readonly min: number }
  /** `nullable`: absent means null. `secret`: the value never appears in an error or the help. */
  | {
      readonly type: 'string';
      readonly format: StringFormat;
      readonly nullable: boolean;
      readonly secret: boolean;
    }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'boolean' }
  | { readonly type: 'list'; readonly item: ListItem }
  | { readonly type: 'namespaces' };

export type StringFormat = 'text' | 'redis-url' | 'http-url';
export type ListItem = 'origin' | 'redis-url' | 'address';

export interface OptionSpec {
  /** camelCase; the key in a config file (its kebab-case form is accepted too). */
  readonly key: string;
  /** The `Config` field it sets. */
  readonly field: keyof Config;
  /** kebab-case, without the leading `--`; null when there is no flag. */
  readonly flag: string | null;
  /** `PUSHWIRE_` + the key in UPPER_SNAKE case. */
  readonly env: string;
  readonly kind: OptionKind;
  /** One line for `--help` and docs/configuration.md. */
  readonly doc: string;
}

export function kebabCase(camel: string): string {
  return camel.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

export function envName(camel: string): string {
  return `PUSHWIRE_${kebabCase(camel).replace(/-/g, '_').toUpperCase()}`;
}

function option(field: keyof Config, key: string, kind: OptionKind, doc: string): OptionSpec {
  return { key, field, flag: kebabCase(key), env: envName(key), kind, doc };
}

const integer = (min: number, max: number): OptionKind => ({ type: 'integer', min, max });
const duration = (nullable: boolean, minMs: number, maxMs = MAX_TIMER_MS): OptionKind => ({
  type: 'duration',
  nullable,
  minMs,
  maxMs,
});
const text = (format: StringFormat = 'text'): OptionKind => ({
  type: 'string',
  format,
  nullable: false,
  secret: false,
});
const secret: OptionKind = { type: 'string', format: 'text', nullable: true, secret: true };
const boolean: OptionKind = { type: 'boolean' };
const optionalText: OptionKind = { type: 'string', format: 'text', nullable: true, secret: false };
/** A hook's address: never shown, since webhook URLs often carry a key in their path or query. */
const hookUrl: OptionKind = { type: 'string', format: 'http-url', nullable: true, secret: true };

/** Every option of `pushwire serve`, in the order `--help` and the docs list them. */
export const OPTIONS: readonly OptionSpec[] = [
  option('port', 'port', integer(0, 65_535), 'TCP port to listen on; 0 picks a free port'),
  option('host', 'host', text(), 'address to listen on'),
  option(
    'apiKey',
    'apiKey',
    secret,
    'key for POST /api/publish (and /api/disconnect), at least 16 characters; unset: serve generates one and prints it',
  ),
  option(
    'adminKey',
    'adminKey',
    secret,
    'key for the admin API (/api/*) and the dashboard (/admin), at least 16 characters; unset: both are off',
  ),
  option(
    'internalPort',
    'internalPort',
    { type: 'integer', min: 0, max: 65_535, nullable: true },
    'serve /metrics, the admin API and /admin on this second port only, never on the public one; 0 picks a free port',
  ),
  option(
    'internalHost',
    'internalHost',
    text(),
    'address of the internal port: keep it private (loopback, or a private network)',
  ),
  option(
    'revocationTtlMs',
    'revocationTtl',
    duration(false, 1000, Number.MAX_SAFE_INTEGER),
    "how long POST /api/disconnect of a user refuses that user's older tokens: at least your tokens' lifetime",
  ),
  option(
    'heartbeatIntervalMs',
    'heartbeatInterval',
    duration(true, 1),
    'heartbeat after this much silence on a connection; 0/off disables heartbeats',
  ),
  option(
    'heartbeatTimeoutMs',
    'heartbeatTimeout',
    duration(false, 1),
    'a peer silent for heartbeat interval + this is dropped',
  ),
  option(
    'pollTimeoutMs',
    'pollTimeout',
    duration(false, 1),
    "how long a long poll is held; keep it under every proxy's idle timeout",
  ),
  option(
    'historySize',
    'historySize',
    integer(0, 100_000),
    'messages kept per channel for resume and history',
  ),
  option(
    'historyTtlMs',
    'historyTtl',
    duration(true, 1, Number.MAX_SAFE_INTEGER),
    'how long a message stays in history; 0/off keeps it until pushed out by size',
  ),
  option(
    'historyMinAgeMs',
    'historyMinAge',
    duration(false, 0),
    'messages younger than this stay in history whatever history-size says, so resumes and long polls lose nothing under load; history-ttl still caps the age; 0 = count alone',
  ),
  option('clientPublish', 'clientPublish', boolean, 'let connected clients publish (WebSocket and HTTP)'),
  option('presence', 'presence', boolean, 'track who is subscribed to each channel'),
  option(
    'clientPublishRate',
    'clientPublishRate',
    integer(0, 1_000_000),
    'publishes per second one connection may make (bursts of twice that; rate_limited past it); 0 = no limit',
  ),
  option(
    'clientPublishRatePerIp',
    'clientPublishRatePerIp',
    integer(0, 1_000_000),
    'publishes per second all connections of one client address may make together (bursts of twice that); 0 = no limit',
  ),
  option(
    'maxCommandsPerSecond',
    'maxCommandsPerSecond',
    integer(0, 1_000_000),
    'WebSocket frames per second per connection, junk included (bursts of twice that): rate_limited replies past it, a close if it goes on; 0 = no limit',
  ),
  option(
    'maxHistoryMemory',
    'maxHistoryMemory',
    { type: 'bytes', min: 1024 },
    'bytes of messages the memory broker keeps in history over all channels; past it the oldest are evicted (resumes into them get a gap)',
  ),
  option(
    'maxHistoryChannels',
    'maxHistoryChannels',
    integer(1, 100_000_000),
    'channels whose position and history the memory broker keeps; past it the least recently used one nobody follows is forgotten',
  ),
  option(
    'maxOutboundMemory',
    'maxOutboundMemory',
    { type: 'bytes', min: 1024 },
    'bytes queued for sending over all connections; past it the connections with the most queued are cut (slow_consumer)',
  ),
  option(
    'presenceTtlMs',
    'presenceTtl',
    // Entries are refreshed every third of the TTL, at most once a second.
    duration(false, 3_000),
    "a presence entry expires after this unless refreshed: how long a dead node's clients stay listed",
  ),
  option('maxMessageBytes', 'maxMessageSize', { type: 'bytes', min: 1 }, 'largest message or frame accepted'),
  option(
    'maxChannelsPerConnection',
    'maxChannels',
    integer(1, 100_000),
    'most channels one connection may subscribe to',
  ),
  option(
    'broker',
    'broker',
    { type: 'enum', values: ['memory', 'redis'] },
    'memory (one node) or redis (scale-out)',
  ),
  option(
    'redisUrl',
    'redisUrl',
    text('redis-url'),
    'Redis to use when the broker is redis (redis-sentinel://host:26379,host:26379/master follows a Sentinel master)',
  ),
  option('redisPrefix', 'redisPrefix', text(), 'prefix of every Redis key and pub/sub channel'),
  option(
    'redisShards',
    'redisShards',
    { type: 'list', item: 'redis-url' },
    'independent Redis deployments to spread channels over (comma list; every node lists the same); empty: redisUrl',
  ),
  option(
    'redisCluster',
    'redisCluster',
    boolean,
    "the Redis URLs' hosts are seed nodes of a Redis Cluster (7+; sharded pub/sub)",
  ),
  option(
    'nodeLeaseMs',
    'nodeLease',
    // Renewed every third of it: a shorter lease would renew faster than Redis answers under load.
    duration(false, 300, 3_600_000),
    'on Redis, a node silent this long is lost: another node tells its disconnects (node_lost)',
  ),
  option(
    'tokenSecret',
    'tokenSecret',
    secret,
    'HS256 secret (at least 32 bytes) of connection JWTs; unset (and no other token key): anonymous connections',
  ),
  option(
    'tokenJwksUrl',
    'tokenJwksUrl',
    { type: 'string', format: 'http-url', nullable: true, secret: false },
    'JWKS of the keys that sign connection JWTs (RS256, ES256, EdDSA): cached, refetched for an unknown kid',
  ),
  option(
    'tokenPublicKey',
    'tokenPublicKey',
    optionalText,
    'PEM file of the public key that signs connection JWTs (RSA: RS256, P-256: ES256, Ed25519: EdDSA)',
  ),
  option(
    'tokenAudience',
    'tokenAudience',
    optionalText,
    'connection JWTs must carry this aud; unset: not checked',
  ),
  option(
    'tokenIssuer',
    'tokenIssuer',
    optionalText,
    'connection JWTs must carry this iss; unset: not checked',
  ),
  option(
    'tokenMaxAgeMs',
    'tokenMaxAge',
    duration(true, 1000, Number.MAX_SAFE_INTEGER),
    'refuse connection JWTs whose exp - iat is longer (they then need iat); 0/off: any lifetime',
  ),
  option(
    'tokenClockSkewMs',
    'tokenClockSkew',
    duration(false, 0, 300_000),
    "a token's exp and nbf are stretched this much, for clocks that disagree; connections end at exp + this",
  ),
  option(
    'public',
    'public',
    boolean,
    "channels anyone connected may read, whatever a token's channels claim says (per namespace: public)",
  ),
  option('hookUrl', 'hookUrl', hookUrl, 'where lifecycle events are POSTed in batches (see docs/hooks.md)'),
  option(
    'hookSecret',
    'hookSecret',
    secret,
    'key (at least 32 bytes) that signs every hook request (Pushwire-Signature); needed by every hook',
  ),
  option(
    'hooks',
    'hooks',
    boolean,
    "send channels' subscribe, unsubscribe, occupied and vacated events to --hook-url (per namespace: hooks)",
  ),
  option(
    'hookPublishEvents',
    'hookPublishEvents',
    boolean,
    'also send a publish event for every message on channels with hooks',
  ),
  option(
    'hookQueueSize',
    'hookQueueSize',
    integer(1, 10_000_000),
    'lifecycle events held while --hook-url is unreachable; more are dropped and counted',
  ),
  option(
    'connectHookUrl',
    'connectHookUrl',
    hookUrl,
    'asked on every connection who the client is and what it may do (instead of, or beside, tokens)',
  ),
  option(
    'subscribeHookUrl',
    'subscribeHookUrl',
    hookUrl,
    'asked before each subscribe (and history, presence) on channels with subscribeHook',
  ),
  option(
    'subscribeHook',
    'subscribeHook',
    boolean,
    'ask --subscribe-hook-url before each read of a channel (per namespace: subscribeHook)',
  ),
  option(
    'publishHookUrl',
    'publishHookUrl',
    hookUrl,
    'asked before each client publish on channels with publishHook; it may refuse or replace the data',
  ),
  option(
    'publishHook',
    'publishHook',
    boolean,
    'ask --publish-hook-url before each client publish (per namespace: publishHook)',
  ),
  option(
    'hookTimeoutMs',
    'hookTimeout',
    duration(false, 10, 60_000),
    'a hook request without an answer after this long has failed (clients get unavailable)',
  ),
  option(
    'hookConcurrency',
    'hookConcurrency',
    integer(1, 100_000),
    'requests one authorization hook may have in flight; clients beyond it get unavailable',
  ),
  option(
    'corsOrigins',
    'corsOrigins',
    { type: 'list', item: 'origin' },
    "origins whose pages may call from browsers besides the server's own (comma list; * = any)",
  ),
  option(
    'maxConnections',
    'maxConnections',
    { type: 'integer', min: 1, max: 10_000_000, nullable: true },
    'open connections in all (idle keep-alive, held polls and streams included); more are refused with 503 too_many_connections; off: no limit',
  ),
  option(
    'maxConnectionsPerIp',
    'maxConnectionsPerIp',
    { type: 'integer', min: 1, max: 10_000_000, nullable: true },
    'open connections of one client address (IPv6: one /64); more are refused with 503 too_many_connections (WebSocket: close 4005); off: no limit',
  ),
  option(
    'trustProxy',
    'trustProxy',
    { type: 'list', item: 'address' },
    "proxies (addresses or networks, comma list) whose X-Forwarded-For names the client's address; none: the peer's address",
  ),
  option(
    'requestTimeoutMs',
    'requestTimeout',
    duration(false, 100, 3_600_000),
    "a request's headers and body must arrive within this; else 408 request_timeout and the connection is closed",
  ),
  option(
    'keepAliveTimeoutMs',
    'keepAliveTimeout',
    duration(false, 100, 3_600_000),
    "an idle keep-alive connection is closed after this; keep it above your load balancer's idle timeout",
  ),
  option('shutdownTimeoutMs', 'shutdownTimeout', duration(false, 0), 'how long a drain may take on shutdown'),
  option(
    'workers',
    'workers',
    { type: 'integer', min: 1, max: 256, auto: true },
    'worker processes sharing the port (auto: one per core); the memory broker then lives in the primary',
  ),
  option(
    'pidFile',
    'pidFile',
    { type: 'string', format: 'text', nullable: true, secret: false },
    "where serve --workers writes the primary's process id, for `pushwire reload` (or kill -HUP) to find it",
  ),
  option(
    'logLevel',
    'logLevel',
    { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    'least severe log level written',
  ),
  option(
    'logFormat',
    'logFormat',
    { type: 'enum', values: ['auto', 'json', 'pretty'] },
    'log lines as JSON, or pretty (one coloured line each); auto: pretty when stderr is a terminal',
  ),
  option('demo', 'demo', boolean, 'serve a demo page at /'),
  {
    ...option(
      'namespaces',
      'namespaces',
      { type: 'namespaces' },
      'options per channel namespace (see below)',
    ),
    flag: null,
  },
];

/** `--config` / PUSHWIRE_CONFIG: where the config file is; not an option of the file itself. */
export const CONFIG_FILE_OPTION = {
  flag: 'config',
  env: 'PUSHWIRE_CONFIG',
  doc: 'config file to read (.yaml, .yml or .json)',
} as const;

/** The options a namespace may set; every other value comes from the top level. */
export const NAMESPACE_FIELDS = [
  'historySize',
  'historyTtlMs',
  'historyMinAgeMs',
  'clientPublish',
  'presence',
  'hooks',
  'subscribeHook',
  'publishHook',
  'public',
] as const;

/**
 * PUSHWIRE_ variables that are not server options: the client commands (`pushwire publish`,
 * `subscribe`: PUSHWIRE_URL, PUSHWIRE_TOKEN), test and benchmark runners read these, and a
 * server started under them must not refuse to start.
 */
export const FOREIGN_ENV_PREFIXES: readonly string[] = [
  'PUSHWIRE_TEST_',
  'PUSHWIRE_BENCH_',
  'PUSHWIRE_URL',
  'PUSHWIRE_TOKEN',
];
