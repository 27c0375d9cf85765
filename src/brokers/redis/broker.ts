import { type Publication, PushwireError, type StreamPosition } from '../../protocol/index.ts';
import { newEpoch } from '../memory.ts';
import type {
  Broker,
  BrokerCluster,
  BrokerHandler,
  BrokerHealth,
  HistoryQuery,
  HistoryResult,
  Logger,
  PresenceStore,
  PublishOptions,
} from '../types.ts';
import { RedisCluster } from './cluster.ts';
import { withDeadline } from './deadline.ts';
import { HashRing } from './hash-ring.ts';
import { type ChannelKeys, channelKeys, channelOfPubsub, decodePayload } from './keys.ts';
import { RedisPresence } from './presence.ts';
import { SCRIPTS } from './scripts.ts';
import { Shard } from './shard.ts';

export interface RedisBrokerOptions {
  /** `redis://`, `rediss://` (TLS) or `redis-sentinel://host:26379[,host:26379]/masterName`. */
  readonly url: string;
  /** Every key and pub/sub channel starts with it: several deployments can share one Redis. */
  readonly prefix: string;
  /**
   * Several independent Redis deployments (URLs as for `url`); when given, they replace `url`.
   * Channels are spread over them by consistent hashing: every node MUST list the same shards.
   */
  readonly shards?: readonly string[];
  /** The URL's hosts are seed nodes of a Redis Cluster (7+): publications use SPUBLISH. */
  readonly cluster?: boolean;
  readonly logger?: Logger;
  /** A command without a reply after this long fails with broker_unavailable. Default 1000 ms. */
  readonly commandTimeoutMs?: number;
  /** `start()` fails if Redis isn't ready within this long. Default 5000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * How long a channel's epoch and offset outlive its last publish or history read (never
   * less than its history TTL). Default 30 days. When they expire, the next publish starts a
   * new epoch: a client resuming later is told of an `epoch` gap rather than a `window` gap,
   * both honest. Longer keeps the finer answer at the cost of one small HASH per channel.
   */
  readonly metaTtlMs?: number;
  /**
   * A node's cluster lease (see ClusterView): renewed every third of it; a node silent for
   * longer is reported lost. Default 15000 ms.
   */
  readonly nodeLeaseMs?: number;
}

const DEFAULTS = {
  commandTimeoutMs: 1000,
  connectTimeoutMs: 5000,
  nodeLeaseMs: 15_000,
  metaTtlMs: 30 * 24 * 60 * 60 * 1000,
} as const;

/** Curly braces would break the `{prefix:channel}` hash tag that keeps a channel on one slot. */
const PREFIX_PATTERN = /^[^{}\s]+$/;

type State = 'new' | 'running' | 'closed';

/**
 * The scale-out broker: every node shares channel streams in Redis. A publish is one Lua script
 * (lua/publish.lua) that assigns the offset, appends to a Redis stream and publishes to the
 * channel's pub/sub channel, so offsets are global and every node sees the same order.
 *
 * Redis 6.2+ (7+ for cluster mode). If Redis is unreachable, publish and history reject at
 * once with `broker_unavailable`; ioredis reconnects by itself, and once the subscriber link is
 * back the broker subscribes again and calls `handler.recovered()`.
 */
export class RedisBroker implements Broker, BrokerHealth, BrokerCluster {
  readonly presence: PresenceStore;
  readonly cluster: RedisCluster;
  private readonly prefix: string;
  private readonly metaTtlMs: number;
  private readonly commandTimeoutMs: number;
  private readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  private readonly shards: Shard[];
  private readonly ring: HashRing<Shard>;
  private readonly subscribed = new Set<string>();
  private readonly log: Logger;
  private handler: BrokerHandler | null = null;
  private state: State = 'new';

  constructor(options: RedisBrokerOptions) {
    if (!PREFIX_PATTERN.test(options.prefix)) {
      throw new Error(`invalid Redis prefix "${options.prefix}": no spaces or curly braces`);
    }
    this.prefix = options.prefix;
    this.metaTtlMs = options.metaTtlMs ?? DEFAULTS.metaTtlMs;
    this.commandTimeoutMs = options.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs;
    this.publishCommand = options.cluster ? 'SPUBLISH' : 'PUBLISH';
    this.log = options.logger ?? (() => {});
    const urls = options.shards && options.shards.length > 0 ? [...new Set(options.shards)] : [options.url];
    const connection = {
      cluster: options.cluster ?? false,
      commandTimeoutMs: this.commandTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    };
    const events = {
      message: (name: string, payload: string) => this.deliver(name, payload),
      recovered: () => this.recovered(),
      log: this.log,
    };
    this.shards = urls.map((url) => new Shard(url, { ...connection, url }, events));
    this.ring = new HashRing(this.shards.map((shard) => ({ name: shard.url, value: shard })));
    this.presence = new RedisPresence({
      locate: (channel) => ({ client: this.ring.get(channel).command, keys: this.keys(channel) }),
      guard: (operation, work) => this.guard(operation, work),
    });
    // Every node lists the same shards, so every node finds the control plane on the same one.
    const control = this.ring.get('#cluster');
    this.cluster = new RedisCluster({
      prefix: this.prefix,
      control: control.command,
      commandFor: (channel) => this.ring.get(channel).command,
      listen: (name) => control.subscribe(name),
      unlisten: (name) => control.unsubscribe(name),
      publish: (name, payload) =>
        options.cluster ? control.command.spublish(name, payload) : control.command.publish(name, payload),
      guard: (operation, work) => this.guard(operation, work),
      log: this.log,
      leaseMs: options.nodeLeaseMs ?? DEFAULTS.nodeLeaseMs,
    });
  }

  async start(handler: BrokerHandler): Promise<void> {
    if (this.state !== 'new') throw new Error('RedisBroker.start() is called once, before anything else');
    this.handler = handler;
    this.state = 'running';
    try {
      await Promise.all(this.shards.map((shard) => shard.connect()));
    } catch (error) {
      await this.close();
      throw unavailable('redis connect failed', error);
    }
  }

  async publish(channel: string, data: string, options: PublishOptions): Promise<Publication> {
    const keys = this.keys(channel);
    const shard = this.ring.get(channel);
    const reply = await this.guard('publish', () =>
      SCRIPTS.publish.run(
        shard.command,
        [keys.meta, keys.stream],
        [
          keys.pubsub,
          newEpoch(),
          data,
          options.historySize,
          options.historyTtlMs ?? 0,
          this.metaTtlMs,
          this.publishCommand,
          options.historyMinAgeMs ?? 0,
        ],
      ),
    );
    const [offset, epoch, time] = reply as [number, string, number];
    return { channel, offset, epoch, data, time };
  }

  async subscribe(channel: string): Promise<void> {
    this.assertRunning();
    // Added first: a publication may arrive before Redis's confirmation does.
    this.subscribed.add(channel);
    try {
      await this.ring.get(channel).subscribe(this.keys(channel).pubsub);
    } catch (error) {
      this.subscribed.delete(channel);
      throw unavailable(`redis subscribe to ${channel} failed`, error);
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    // Removed first: a publication still in flight on the connection is dropped in deliver().
    this.subscribed.delete(channel);
    if (this.state !== 'running') return;
    await this.ring.get(channel).unsubscribe(this.keys(channel).pubsub);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const keys = this.keys(channel);
    const shard = this.ring.get(channel);
    const reply = await this.guard('history', () =>
      SCRIPTS.history.run(
        shard.command,
        [keys.meta, keys.stream],
        [newEpoch(), this.metaTtlMs, query.since?.epoch ?? '', query.since?.offset ?? 0, query.limit ?? -1],
      ),
    );
    return parseHistory(channel, reply);
  }

  healthy(): boolean {
    return this.state === 'running' && this.shards.every((shard) => shard.healthy());
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'running') await this.cluster.leave();
    this.state = 'closed';
    this.handler = null;
    this.subscribed.clear();
    for (const shard of this.shards) shard.close();
  }

  private keys(channel: string): ChannelKeys {
    return channelKeys(this.prefix, channel);
  }

  private deliver(name: string, payload: string): void {
    if (name === this.cluster.busName) {
      this.cluster.busMessage(payload);
      return;
    }
    const channel = channelOfPubsub(this.prefix, name);
    if (channel === null || !this.subscribed.has(channel) || !this.handler) return;
    const publication = decodePayload(channel, payload);
    if (!publication) {
      this.log('error', `undecodable publication on ${name}`);
      return;
    }
    try {
      this.handler.publication(publication);
    } catch (error) {
      // The node's failure, not the link's: report it and go on with the next publication.
      this.log('error', `publication handler failed on ${channel}`, error);
    }
  }

  private recovered(): void {
    try {
      this.handler?.recovered();
    } catch (error) {
      this.log('error', 'recovered handler failed', error);
    }
  }

  private assertRunning(): void {
    if (this.state === 'closed') throw new PushwireError('broker_unavailable', 'the broker is closed');
    if (this.state === 'new') throw new Error('RedisBroker.start() must be called first');
  }

  /**
   * Runs a Redis call within the command timeout; any failure becomes broker_unavailable
   * (reported, never thrown raw).
   */
  private async guard<T>(operation: string, work: () => Promise<T>): Promise<T> {
    this.assertRunning();
    try {
      return await withDeadline(work(), this.commandTimeoutMs);
    } catch (error) {
      // While Redis is out of reach its shard says so once (outage.ts): one line per failed
      // call would bury that line under every publish made during the outage.
      const level = this.shards.every((shard) => shard.healthy()) ? 'warn' : 'debug';
      this.log(level, `redis ${operation} failed`, error);
      throw unavailable(`redis ${operation} failed`, error);
    }
  }
}

/**
 * Every failure of Redis as the one error callers expect. The message says what failed and
 * why in words an operator can act on; it never holds a URL with its password (shards are
 * named by their redacted URL).
 */
function unavailable(message: string, cause: unknown): PushwireError {
  return new PushwireError('broker_unavailable', `${message}: ${reasonOf(cause)}`);
}

function reasonOf(cause: unknown): string {
  if (!(cause instanceof Error)) return 'unknown failure';
  // How ioredis, its offline queue off, refuses a command while it isn't connected.
  if (/enableOfflineQueue options is false|^Connection is closed/.test(cause.message)) {
    return 'not connected to Redis (reconnecting)';
  }
  return cause.message;
}

type StreamEntry = [id: string, fields: string[]];

function parseHistory(channel: string, reply: unknown): HistoryResult {
  const [epoch, topOffset, earliest, entries, newestFirst] = reply as [
    string,
    number,
    number,
    StreamEntry[],
    number,
  ];
  const publications = entries.map(([id, fields]) => toPublication(channel, epoch, id, fields));
  if (newestFirst === 1) publications.reverse();
  const top: StreamPosition = { epoch, offset: topOffset };
  return { publications, top, earliest };
}

function toPublication(channel: string, epoch: string, id: string, fields: string[]): Publication {
  let time = 0;
  let data = '';
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 't') time = Number(fields[i + 1]);
    else if (fields[i] === 'd') data = fields[i + 1] ?? '';
  }
  return { channel, offset: Number.parseInt(id, 10), epoch, data, time };
}
