import { Cluster, Redis, type RedisOptions } from 'ioredis';

export type RedisClient = Redis | Cluster;

export interface ConnectionOptions {
  /** `redis://`, `rediss://` or `redis-sentinel://`; a cluster may list several seed hosts. */
  readonly url: string;
  readonly cluster: boolean;
  /** The subscriber connection of a cluster needs ioredis's sharded subscribers (SSUBSCRIBE). */
  readonly subscriber: boolean;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
}

/** ioredis's own command timeout, in multiples of the broker's. */
const COMMAND_TIMEOUT_BACKSTOP = 10;

/** Reconnect quickly at first, then every 2 s at most, forever: ioredis does the reconnecting. */
function retryDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 6), 2000);
}

/**
 * Fail fast instead of queueing: with Redis gone, a publish must reject at once with
 * broker_unavailable rather than wait in an offline queue that grows without bound. In-flight
 * commands are failed, not resent, on a reconnect: resending a publish could append it twice.
 */
function faultOptions(options: ConnectionOptions): RedisOptions {
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // The broker resubscribes itself, so that it knows when to report `recovered()`.
    autoResubscribe: false,
    // The broker times commands itself (deadline.ts), so that a reply the node was too busy to
    // read in time still counts. ioredis's own timeout stays as a backstop that drops the
    // commands of a Redis that hangs for good from its queue.
    commandTimeout: options.subscriber
      ? options.commandTimeoutMs
      : options.commandTimeoutMs * COMMAND_TIMEOUT_BACKSTOP,
    connectTimeout: options.connectTimeoutMs,
    retryStrategy: retryDelayMs,
  };
}

interface ParsedUrl {
  readonly scheme: 'redis' | 'rediss' | 'redis-sentinel';
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly hosts: Array<{ host: string; port: number }>;
  readonly path: string;
}

const URL_PATTERN = /^(redis|rediss|redis-sentinel):\/\/(?:([^@/]*)@)?([^/?#]+)(\/[^?#]*)?(?:\?.*)?$/;

/**
 * The URL as a message or log line may show it: whatever stands between `//` and the last `@`
 * (a password, or a user and a password) is masked, so an unencoded `@` or `/` in a password
 * doesn't leak the rest of it. Works on URLs that don't parse, too.
 */
export function redactRedisUrl(url: string): string {
  const start = url.indexOf('//');
  const at = url.lastIndexOf('@');
  if (start === -1 || at < start) return url;
  const auth = url.slice(start + 2, at);
  const colon = auth.indexOf(':');
  const shown = colon === -1 ? '***' : `${auth.slice(0, colon)}:***`;
  return `${url.slice(0, start + 2)}${shown}${url.slice(at)}`;
}

/** Parses URLs that `new URL` can't: several comma-separated hosts for sentinels and clusters. */
export function parseRedisUrl(url: string): ParsedUrl {
  const match = URL_PATTERN.exec(url);
  if (!match) {
    throw new Error(
      `invalid Redis URL "${redactRedisUrl(url)}": use redis://, rediss:// or redis-sentinel://`,
    );
  }
  const [, scheme, auth, hostList, path] = match;
  let username: string | undefined;
  let password: string | undefined;
  if (auth) {
    const colon = auth.indexOf(':');
    username = colon === -1 ? undefined : decodeURIComponent(auth.slice(0, colon)) || undefined;
    password = decodeURIComponent(colon === -1 ? auth : auth.slice(colon + 1)) || undefined;
  }
  const defaultPort = scheme === 'redis-sentinel' ? 26379 : 6379;
  const hosts = hostList!.split(',').map((hostPort) => {
    const found = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
    if (!found) throw new Error(`invalid host "${hostPort}" in Redis URL`);
    return { host: found[1]!.replace(/^\[|\]$/g, ''), port: found[2] ? Number(found[2]) : defaultPort };
  });
  return { scheme: scheme as ParsedUrl['scheme'], username, password, hosts, path: path ?? '' };
}

/** `host:port` of a Redis URL (several, comma-separated, for sentinels and cluster seeds). */
export function redisAddress(url: string): string {
  try {
    const hosts = parseRedisUrl(url).hosts;
    return hosts.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  } catch {
    return redactRedisUrl(url);
  }
}

/**
 * - `redis://[user:pass@]host:port[/db]`, `rediss://...` (TLS): one server.
 * - `redis-sentinel://[user:pass@]host:26379[,host:26379]/masterName[/db]`: the master that the
 *   sentinels name, followed across failovers.
 * - any of these with `cluster: true`: the URL's hosts are the cluster's seed nodes.
 */
export function createClient(options: ConnectionOptions): RedisClient {
  const base = faultOptions(options);
  const parsed = parseRedisUrl(options.url);
  const auth = { username: parsed.username, password: parsed.password };
  const tls = parsed.scheme === 'rediss' ? { tls: {} } : {};
  if (options.cluster) {
    return new Cluster(parsed.hosts, {
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: retryDelayMs,
      shardedSubscribers: options.subscriber,
      redisOptions: { ...base, ...auth, ...tls, lazyConnect: true },
    });
  }
  if (parsed.scheme === 'redis-sentinel') {
    const [, name, db] = parsed.path.split('/');
    if (!name)
      throw new Error('a redis-sentinel:// URL names the master: redis-sentinel://host:26379/mymaster');
    return new Redis({ ...base, ...auth, sentinels: parsed.hosts, name, db: db ? Number(db) : 0 });
  }
  return new Redis(options.url, base);
}
