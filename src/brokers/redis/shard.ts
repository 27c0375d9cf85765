import type { Logger } from '../types.ts';
import {
  type ConnectionOptions,
  createClient,
  type RedisClient,
  redactRedisUrl,
  redisAddress,
} from './connection.ts';
import { OutageLog } from './outage.ts';

export interface ShardEvents {
  /** A message on one of this shard's pub/sub channels. */
  message(pubsubName: string, payload: string): void;
  /** The subscriber link came back and every channel is subscribed again. */
  recovered(): void;
  readonly log: Logger;
}

type ShardOptions = Omit<ConnectionOptions, 'subscriber'>;

/**
 * One Redis deployment (a server, a sentinel-watched master or a cluster): a command connection
 * for scripts and a dedicated subscriber connection, which Redis requires since a connection
 * in subscribe mode takes no other commands.
 */
export class Shard {
  readonly command: RedisClient;
  /** The URL as messages show it: without its password. */
  readonly label: string;
  /** Where it is, as log lines name it: `host:port`. */
  readonly address: string;
  private readonly subscriber: RedisClient;
  private readonly outage: OutageLog;
  /** The pub/sub names this node wants, whatever the state of the link. */
  private readonly wanted = new Set<string>();
  private everReady = false;
  private linkLost = false;
  /** What the end of an outage restored, said with it. */
  private restored: string | undefined;
  private closed = false;

  constructor(
    readonly url: string,
    private readonly options: ShardOptions,
    private readonly events: ShardEvents,
  ) {
    this.label = redactRedisUrl(url);
    this.address = redisAddress(url);
    this.outage = new OutageLog(this.address, events.log);
    this.command = createClient({ ...options, subscriber: false });
    this.subscriber = createClient({ ...options, subscriber: true });
    // Without an 'error' listener ioredis reports every failed reconnect as an unhandled error.
    this.command.on('error', (error: unknown) => this.report(error));
    this.subscriber.on('error', (error: unknown) => this.report(error));
    this.subscriber.on(options.cluster ? 'smessage' : 'message', (name: string, payload: string) => {
      if (!this.closed) events.message(name, payload);
    });
    this.subscriber.on('close', () => {
      if (this.everReady && !this.closed && !this.linkLost) {
        this.linkLost = true;
        this.report(new Error('connection lost'));
      }
    });
    this.command.on('ready', () => this.checkRecovered());
    this.subscriber.on('ready', () => {
      this.everReady = true;
      if (this.linkLost) void this.resubscribe();
      else this.checkRecovered();
    });
  }

  /** Resolves when both connections are ready; rejects after the connect timeout. */
  async connect(): Promise<void> {
    await Promise.all([this.command, this.subscriber].map((client) => this.untilReady(client)));
  }

  healthy(): boolean {
    return !this.closed && this.command.status === 'ready' && this.subscriber.status === 'ready';
  }

  /** Resolves once Redis has confirmed the subscription. */
  async subscribe(name: string): Promise<void> {
    this.wanted.add(name);
    try {
      if (this.options.cluster) await (this.subscriber as RedisClient).ssubscribe(name);
      else await this.subscriber.subscribe(name);
    } catch (error) {
      this.wanted.delete(name);
      throw error;
    }
  }

  async unsubscribe(name: string): Promise<void> {
    this.wanted.delete(name);
    try {
      if (this.options.cluster) await this.subscriber.sunsubscribe(name);
      else await this.subscriber.unsubscribe(name);
    } catch (error) {
      // With the link down the subscription dies with the connection, and resubscribe() skips
      // it: nothing is left to undo.
      this.events.log('debug', `unsubscribe from ${name} failed; the link is down`, error);
    }
  }

  close(): void {
    this.closed = true;
    this.command.disconnect();
    this.subscriber.disconnect();
  }

  /**
   * After an outage: subscribe to every wanted channel again, then report the hole so the node
   * re-reads history. In that order, so nothing published after the history read is missed.
   * A cluster's sharded subscribers resubscribe by themselves (ioredis keeps their channels).
   */
  private async resubscribe(): Promise<void> {
    const names = [...this.wanted];
    try {
      if (names.length > 0 && !this.options.cluster) await this.subscriber.subscribe(...names);
    } catch (error) {
      this.report(error);
      // Reconnect to try again from a clean connection; linkLost stays set until it works.
      if (!this.closed) this.subscriber.disconnect(true);
      return;
    }
    if (this.closed) return;
    this.linkLost = false;
    if (names.length > 0) {
      this.restored = `${names.length} channel${names.length === 1 ? '' : 's'} subscribed again`;
    }
    this.checkRecovered();
    this.events.recovered();
  }

  private untilReady(client: RedisClient): Promise<void> {
    if (client.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        const cause = this.outage.cause === null ? '' : ` (${this.outage.cause})`;
        reject(
          new Error(`redis at ${this.label} not ready within ${this.options.connectTimeoutMs} ms${cause}`),
        );
      }, this.options.connectTimeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
      // Connection errors also reach the 'error' listener; ioredis keeps retrying until ready.
      client.connect().catch(() => {});
    });
  }

  private report(error: unknown): void {
    if (!this.closed) this.outage.failed(error);
  }

  /** Says the outage is over once both connections are back (in whichever order). */
  private checkRecovered(): void {
    if (!this.healthy() || this.linkLost) return;
    this.outage.recovered(this.restored);
    this.restored = undefined;
  }
}
