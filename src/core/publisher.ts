import type { Broker } from '../brokers/types.ts';
import { asPushwireError, isSystemChannel, type Publication, PushwireError } from '../protocol/index.ts';
import type { Access } from './access.ts';
import type { Lifecycle } from './lifecycle.ts';
import { addressKey, RateLimiter } from './rate-limit.ts';
import type { ChannelOptions, Identity, PublishLimitKeys } from './types.ts';

/** The hub's numbers that publishing keeps up to date. */
export interface PublishStats {
  published: number;
  publishesRateLimited: number;
  publishesRateLimitedByAddress: number;
}

export interface PublisherOptions {
  readonly broker: Broker;
  readonly access: Access;
  readonly channelOptions: (channel: string) => ChannelOptions;
  readonly stats: PublishStats;
  readonly lifecycle: Lifecycle | null;
  /** Client publishes per second per connection (bursts of twice that); null: no limit. */
  readonly clientPublishRate: number | null;
  /** Client publishes per second per client address, all its connections together; null: no limit. */
  readonly clientPublishRatePerIp: number | null;
  /** True once the node is closed: nothing more is published. */
  readonly closed: () => boolean;
}

/** The entry of every publish, the server's and the clients', on this node. */
export class Publisher {
  private readonly options: PublisherOptions;
  private readonly clientPublishLimit: RateLimiter | null;
  private readonly addressPublishLimit: RateLimiter | null;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(options: PublisherOptions) {
    this.options = options;
    const rate = options.clientPublishRate;
    this.clientPublishLimit = rate === null ? null : new RateLimiter(rate, rate * 2);
    const perIp = options.clientPublishRatePerIp;
    this.addressPublishLimit = perIp === null ? null : new RateLimiter(perIp, perIp * 2);
  }

  /** Publishes as the server (API key holders, server-side code): no rights to check. */
  publish(channel: string, data: string): Promise<Publication> {
    return this.send(channel, data, null);
  }

  /**
   * Publishes for a client: only where its rights allow, at most at the client publish rate
   * of its connection and of its address (keys the server made, never values the client
   * chose), and with the application's word where the channel's namespace asks for it (it may
   * replace the data). `clientId` names the client to the application and in lifecycle events.
   */
  async publishAs(
    identity: Identity,
    limits: PublishLimitKeys,
    channel: string,
    data: string,
    clientId: string | null,
  ): Promise<Publication> {
    const { access, stats } = this.options;
    access.assertPublish(identity, channel);
    if (this.clientPublishLimit && !this.clientPublishLimit.take(limits.connection)) {
      stats.publishesRateLimited += 1;
      throw new PushwireError('rate_limited', 'too many publishes on this connection: slow down');
    }
    if (limits.address !== null && this.addressPublishLimit?.take(addressKey(limits.address)) === false) {
      stats.publishesRateLimited += 1;
      stats.publishesRateLimitedByAddress += 1;
      throw new PushwireError('rate_limited', 'too many publishes from this address: slow down');
    }
    const final = await access.askPublish(identity, channel, data, clientId);
    return this.send(channel, final, { clientId, user: identity.userId });
  }

  /** Settles once every publish accepted so far has (for a drain or a close). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** Every publish ends here; `by` is the publishing client, for lifecycle events. */
  private send(
    channel: string,
    data: string,
    by: { clientId: string | null; user: string | null } | null,
  ): Promise<Publication> {
    if (this.options.closed()) return Promise.reject(new PushwireError('shutting_down'));
    const options = this.options.channelOptions(channel);
    const publishing = this.options.broker
      .publish(channel, data, {
        historySize: options.historySize,
        historyTtlMs: options.historyTtlMs,
        historyMinAgeMs: options.historyMinAgeMs ?? 0,
      })
      .then(
        (publication) => {
          if (!isSystemChannel(channel)) this.options.stats.published += 1;
          this.options.lifecycle?.published(publication, by);
          return publication;
        },
        (error: unknown) => {
          throw asPushwireError(error, 'broker_unavailable');
        },
      );
    this.inflight.add(publishing);
    const settle = () => this.inflight.delete(publishing);
    publishing.then(settle, settle);
    return publishing;
  }
}
