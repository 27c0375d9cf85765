import { createRedisClient, type RedisClient, redactRedisUrl } from '../../brokers/index.ts';
import { type EventLog, Overflow, type QueuedEvent } from './event-log.ts';

/**
 * Appends events to the stream unless it holds `capacity` already: the ones that don't fit
 * are dropped, and the script says how many it took.
 */
const APPEND = `
local room = tonumber(ARGV[1]) - redis.call('XLEN', KEYS[1])
local taken = 0
for i = 2, #ARGV do
  if taken >= room then break end
  redis.call('XADD', KEYS[1], '*', 'e', ARGV[i])
  taken = taken + 1
end
return taken`;

/** Takes or renews the sender lease for ARGV[1]; 1 if this node holds it now. */
const HOLD_LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * How long the sender lease lasts without renewal: a node that dies while it sends is
 * replaced this long after, its undelivered events still at the head of the stream.
 */
export const SENDER_LEASE_MS = 5_000;
const RENEW_MS = Math.floor(SENDER_LEASE_MS / 3);
/** Events per append script run. */
const APPEND_BATCH = 100;
const RETRY_MS = 500;

export interface RedisEventLogOptions {
  readonly url: string;
  readonly cluster: boolean;
  readonly prefix: string;
  /** Events the stream may hold (and this node, while Redis is away). */
  readonly capacity: number;
  readonly log: (level: 'warn' | 'info', msg: string) => void;
}

/**
 * Lifecycle events in a Redis stream that every node shares: each node appends its events in
 * order (keeping them in memory while Redis is away), and one node at a time, the holder of
 * the sender lease, delivers from the head of the stream and deletes what the receiver took.
 * One sender keeps the order in which events reached the stream. A sender that dies stops
 * renewing its lease; the next node to take it finds the dead one's undelivered events still
 * at the head and sends them first. Delivery is at least once: a sender that dies between
 * the receiver's 2xx and the delete leaves events that are sent again, with the same ids.
 */
export class RedisEventLog implements EventLog {
  sent = 0;
  private readonly command: RedisClient;
  /** XREAD BLOCK holds its connection: a second one keeps appends and the lease moving. */
  private readonly reader: RedisClient;
  private readonly stream: string;
  private readonly lease: string;
  private readonly overflow: Overflow;
  /** Events not yet in Redis, oldest first. */
  private readonly outbox: string[] = [];
  private appending = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;
  private holding = false;
  private linkDown = false;
  private lastLength = 0;
  private closed = false;
  /** This node's id: the lease holder's name. */
  private node = '';

  constructor(private readonly options: RedisEventLogOptions) {
    const connection = {
      url: options.url,
      cluster: options.cluster,
      commandTimeoutMs: 1000,
      connectTimeoutMs: 5000,
    };
    this.command = createRedisClient({ ...connection, subscriber: false });
    this.reader = createRedisClient({ ...connection, subscriber: false });
    // Without an 'error' listener ioredis reports every failed reconnect as an unhandled error.
    for (const client of [this.command, this.reader]) client.on('error', () => {});
    // One hash tag: a Redis Cluster keeps both keys on one slot, as the scripts need.
    this.stream = `{${options.prefix}:hooks}:events`;
    this.lease = `{${options.prefix}:hooks}:sender`;
    this.overflow = new Overflow(options.log);
  }

  get dropped(): number {
    return this.overflow.dropped;
  }

  async start(node: string): Promise<void> {
    this.node = node;
    try {
      await Promise.all([this.command.connect(), this.reader.connect()]);
    } catch (error) {
      this.command.disconnect();
      this.reader.disconnect();
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`hook events: can't reach Redis at ${redactRedisUrl(this.options.url)}: ${reason}`);
    }
    this.renewTimer = setInterval(() => void this.renew(), RENEW_MS);
    this.renewTimer.unref();
    await this.renew();
  }

  append(json: string): void {
    if (this.outbox.length >= this.options.capacity) {
      this.overflow.drop(1, this.options.capacity);
      return;
    }
    this.outbox.push(json);
    if (!this.appending && !this.retryTimer) void this.flush();
  }

  /** Waits in Redis (XREAD BLOCK) up to `waitMs` whatever `signal` says: a stop waits that long at most. */
  async next(max: number, waitMs: number, signal: AbortSignal): Promise<readonly QueuedEvent[]> {
    if (this.closed || signal.aborted) return [];
    if (!this.holding) {
      await sleep(Math.min(waitMs, RENEW_MS));
      return [];
    }
    try {
      // From 0-0: delivered events are deleted, so the head of the stream is the oldest undelivered.
      const reply = (await this.reader.xread('COUNT', max, 'BLOCK', waitMs, 'STREAMS', this.stream, '0-0')) as
        | [string, [string, string[]][]][]
        | null;
      this.linkUp();
      const entries = reply?.[0]?.[1] ?? [];
      return entries.map(([key, fields]) => ({ key, json: fields[fields.indexOf('e') + 1] ?? 'null' }));
    } catch (error) {
      this.lost(error);
      await sleep(RETRY_MS);
      return [];
    }
  }

  async delivered(events: readonly QueuedEvent[]): Promise<void> {
    this.sent += events.length;
    try {
      await this.command.xdel(this.stream, ...events.map((event) => event.key));
    } catch (error) {
      // They will be sent again: a receiver deduplicates by id.
      this.lost(error);
    }
  }

  mayDeliver(): boolean {
    return this.holding && !this.closed;
  }

  settled(): boolean {
    return this.outbox.length === 0;
  }

  async queued(): Promise<number> {
    try {
      this.lastLength = await this.command.xlen(this.stream);
    } catch {
      // Redis is away: the last length seen, and what waits here.
    }
    return this.lastLength + this.outbox.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.holding) {
      this.holding = false;
      // The next node takes over at once instead of after the lease.
      await this.command.eval(RELEASE_LEASE, 1, this.lease, this.node).catch(() => {});
    }
    if (this.outbox.length > 0) {
      this.options.log('warn', `${this.outbox.length} lifecycle events never reached Redis and are lost`);
    }
    this.command.disconnect();
    this.reader.disconnect();
  }

  /** Moves the outbox into the stream, in order; on failure retries later, keeping the rest. */
  private async flush(): Promise<void> {
    this.appending = true;
    try {
      while (this.outbox.length > 0 && !this.closed) {
        const batch = this.outbox.slice(0, APPEND_BATCH);
        const taken = Number(
          await this.command.eval(APPEND, 1, this.stream, this.options.capacity, ...batch),
        );
        this.outbox.splice(0, batch.length);
        this.linkUp();
        if (taken < batch.length) this.overflow.drop(batch.length - taken, this.options.capacity);
        else this.overflow.taken();
      }
    } catch (error) {
      this.lost(error);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.flush();
      }, RETRY_MS);
      this.retryTimer.unref();
    } finally {
      this.appending = false;
    }
  }

  private async renew(): Promise<void> {
    if (this.closed) return;
    try {
      const held = await this.command.eval(HOLD_LEASE, 1, this.lease, this.node, SENDER_LEASE_MS);
      this.holding = Number(held) === 1;
      this.linkUp();
    } catch (error) {
      // Without Redis this node can't tell whether it still holds the lease: it stops sending.
      this.holding = false;
      this.lost(error);
    }
  }

  private lost(error: unknown): void {
    if (this.linkDown || this.closed) return;
    this.linkDown = true;
    const reason = error instanceof Error ? error.message : String(error);
    this.options.log(
      'warn',
      `hook events: Redis is away (${reason}); events wait on this node and are sent later`,
    );
  }

  private linkUp(): void {
    if (!this.linkDown) return;
    this.linkDown = false;
    this.options.log('info', 'hook events: Redis is back');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
