import { randomBytes } from 'node:crypto';
import type { Broker, HistoryQuery, HistoryResult, PresenceInfo } from '../brokers/types.ts';
import {
  asPushwireError,
  type ErrorCode,
  type Publication,
  PushwireError,
  type StreamPosition,
} from '../protocol/index.ts';
import { Access, type AccessHook } from './access.ts';
import { ChannelReads, type Hold } from './channel-reads.ts';
import { ChannelRegistry } from './channel-registry.ts';
import { ExpiryWheel } from './expiry.ts';
import type { Scheduler } from './fan-out.ts';
import { LatencyHistogram } from './latency.ts';
import { Lifecycle, type LifecycleOptions } from './lifecycle.ts';
import type { OutboundMessage } from './outbound.ts';
import { Presence } from './presence.ts';
import { Publisher } from './publisher.ts';
import type { Session, SessionHost } from './session.ts';
import { type SessionFilter, SessionRegistry } from './session-registry.ts';
import type {
  ChannelOptions,
  ChannelWatcher,
  CloseRequest,
  Identity,
  OpenSessionOptions,
  PublishLimitKeys,
} from './types.ts';

export type { Hold } from './channel-reads.ts';
export type { SessionFilter } from './session-registry.ts';

export interface HubOptions {
  readonly broker: Broker;
  /** Options of a channel, from its namespace. Called often: make it cheap. */
  readonly channelOptions: (channel: string) => ChannelOptions;
  readonly maxChannelsPerSession: number;
  /** Presence entries expire after this long unless refreshed (every third of it). */
  readonly presenceTtlMs?: number;
  /** Client publishes per second per connection (bursts of twice that); null: no limit. */
  readonly clientPublishRate?: number | null;
  /** Client publishes per second per client address, all its connections together; null: no limit. */
  readonly clientPublishRatePerIp?: number | null;
  /** Where failures that must not reach a caller go (a flaky backplane, a broken sink). */
  readonly report?: (stage: string, error: unknown) => void;
  /** The fan-out's clock and timers; real ones by default. */
  readonly scheduler?: Scheduler;
  /**
   * Whether connections are arriving now (the server accepted some lately): a slow fan-out
   * that only answered waiting polls is followed by a rest only then, which keeps time for
   * accepting them (FanOut). Always, when absent.
   */
  readonly connectionsArriving?: () => boolean;
  /** Where lifecycle events go (connect, subscribe, …); none when absent. */
  readonly lifecycle?: LifecycleOptions;
  /** Asks the application on channels whose options say so (subscribeHook, publishHook). */
  readonly accessHook?: AccessHook;
  /** Credentials stay good this long past their expiry, for clocks that disagree; 0 by default. */
  readonly clockSkewMs?: number;
}

/** The numbers of the application's traffic: the server's own channels ($admin:stats) are left out. */
export interface HubStats {
  published: number;
  /** Messages handed out (one per subscriber or watcher per message). */
  delivered: number;
  gapsRecovered: number;
  /** Client publishes refused by a client publish rate (per connection or per address). */
  publishesRateLimited: number;
  /** Of those, the ones refused by the rate per client address. */
  publishesRateLimitedByAddress: number;
  /** Connections the server ended, by the code they ended with (slow_consumer, …). */
  readonly ended: Partial<Record<ErrorCode, number>>;
  /** Publish-to-deliver time of what was fanned out to someone. */
  readonly latency: LatencyHistogram;
}

type HubState = 'running' | 'draining' | 'closed';

/**
 * The node's hub, which the other layers and the sessions (as their host) talk to. It ties
 * the node's parts together: the channels it follows (ChannelRegistry), every publish
 * (Publisher), the reads of clients without a session (ChannelReads) and the open sessions
 * (SessionRegistry); it starts, drains and closes them.
 */
export class Hub implements SessionHost {
  readonly nodeId = randomBytes(4).toString('hex');
  readonly maxChannelsPerSession: number;
  readonly clockSkewMs: number;
  readonly expiries = new ExpiryWheel();
  readonly access: Access;
  readonly stats: HubStats = {
    published: 0,
    delivered: 0,
    gapsRecovered: 0,
    publishesRateLimited: 0,
    publishesRateLimitedByAddress: 0,
    ended: {},
    latency: new LatencyHistogram(),
  };
  private readonly broker: Broker;
  private readonly presence: Presence;
  private readonly publisher: Publisher;
  private readonly channels: ChannelRegistry;
  private readonly reads: ChannelReads;
  private readonly sessions: SessionRegistry;
  private readonly lifecycle: Lifecycle | null;
  private state: HubState = 'running';

  constructor(options: HubOptions) {
    this.broker = options.broker;
    const { channelOptions } = options;
    this.maxChannelsPerSession = options.maxChannelsPerSession;
    this.clockSkewMs = options.clockSkewMs ?? 0;
    this.access = new Access(channelOptions, options.accessHook ?? null);
    const report = options.report ?? (() => {});
    this.lifecycle = options.lifecycle ? new Lifecycle(this.nodeId, options.lifecycle, report) : null;
    this.presence = new Presence(options.broker.presence, report, options.presenceTtlMs);
    this.channels = new ChannelRegistry({
      broker: this.broker,
      channelOptions,
      stats: this.stats,
      report,
      presence: this.presence,
      lifecycle: this.lifecycle,
      scheduler: options.scheduler,
      connectionsArriving: options.connectionsArriving,
    });
    this.reads = new ChannelReads(this.channels, this.access, this);
    const closed = () => this.state === 'closed';
    this.sessions = new SessionRegistry(this, this.lifecycle, this.stats.ended, closed);
    this.publisher = new Publisher({
      broker: this.broker,
      access: this.access,
      channelOptions,
      stats: this.stats,
      lifecycle: this.lifecycle,
      clientPublishRate: options.clientPublishRate ?? null,
      clientPublishRatePerIp: options.clientPublishRatePerIp ?? null,
      closed,
    });
  }

  async start(): Promise<void> {
    await this.broker.start({
      publication: (publication) => this.channels.accept(publication),
      recovered: () => this.channels.recover(),
    });
    this.presence.start(() => this.channels.presenceEntries());
    this.lifecycle?.start();
  }

  get running(): boolean {
    return this.state === 'running';
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** Who receives `channel` on this node now (sessions, and polls waiting in memory). */
  subscriberCount(channel: string): number {
    return this.channels.subscriberCount(channel);
  }

  openSession(options: OpenSessionOptions): Session {
    if (this.state !== 'running') throw new PushwireError('shutting_down');
    return this.sessions.open(options);
  }

  /** Publishes as the server (API key holders, server-side code): no rights to check. */
  publish(channel: string, data: string): Promise<Publication> {
    return this.publisher.publish(channel, data);
  }

  /** Publishes for a client, with its rights and limits: see Publisher.publishAs. */
  publishAs(
    identity: Identity,
    limits: PublishLimitKeys,
    channel: string,
    data: string,
    clientId: string | null = null,
  ): Promise<Publication> {
    return this.publisher.publishAs(identity, limits, channel, data, clientId);
  }

  /** The server's own read of history (operators, library code): no rights to check. */
  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    try {
      return await this.broker.history(channel, query);
    } catch (error) {
      throw brokerError(error);
    }
  }

  async presenceOf(channel: string): Promise<PresenceInfo[]> {
    try {
      return await this.presence.list(channel);
    } catch (error) {
      throw brokerError(error);
    }
  }

  // Reads without a session (long polling): see ChannelReads.

  deadlineOf(identity: Identity): number | null {
    return this.reads.deadlineOf(identity);
  }

  positions(identity: Identity, channels: readonly string[]): Promise<Map<string, StreamPosition>> {
    return this.reads.positions(identity, channels);
  }

  read(identity: Identity, channel: string, since: StreamPosition): readonly OutboundMessage[] | null {
    return this.reads.read(identity, channel, since);
  }

  watch(channel: string, position: StreamPosition, watcher: ChannelWatcher): boolean {
    return this.reads.watch(channel, position, watcher);
  }

  unwatch(channel: string, watcher: ChannelWatcher): void {
    this.reads.unwatch(channel, watcher);
  }

  hold(channel: string): Hold {
    return this.reads.hold(channel);
  }

  // Open sessions: see SessionRegistry.

  session(clientId: string): Session | null {
    return this.sessions.session(clientId);
  }

  sessionsMatching(filter: SessionFilter): Session[] {
    return this.sessions.matching(filter);
  }

  replace(clientId: string, key: string, userId: string | null): boolean {
    return this.sessions.replace(clientId, key, userId);
  }

  /**
   * Ends the sessions that match `filter` with `request` (an operator's disconnect), and the
   * polls of `filter.userId` waiting in memory. Returns how many connections it ended.
   */
  disconnect(filter: SessionFilter, request: CloseRequest): number {
    let ended = this.sessions.endMatching(filter, request);
    const userId = filter.userId;
    if (userId !== undefined && filter.clientId === undefined) {
      this.channels.endWatchersWhere(
        (watcher) => {
          this.sessions.countEnded(request.code);
          watcher.end(request);
          ended++;
        },
        (watcher) => watcher.userId === userId,
        filter.channel,
      );
    }
    return ended;
  }

  /** See ChannelRegistry.takeCounts. */
  takeCounts(all = false): Map<string, number> {
    return this.channels.takeCounts(all);
  }

  /**
   * Stops taking sessions and ends every open one with `request` (transports tell their
   * clients to reconnect), spreading the reconnect hints over `spreadMs` so that clients
   * don't come back as one herd; then waits for publishes already accepted.
   */
  async drain(request: Omit<CloseRequest, 'reconnectDelayMs'>, spreadMs: number): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'draining';
    const spread = () => ({ ...request, reconnectDelayMs: Math.round(Math.random() * spreadMs) });
    this.sessions.endAll(spread);
    this.channels.endWatchers((watcher) => watcher.end(spread()));
    await this.publisher.settled();
  }

  /** Ends every session without a word and closes the broker. Safe in any state. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.presence.stop();
    this.expiries.stop();
    this.sessions.closeAll();
    this.channels.endWatchers((watcher) => watcher.end(null));
    await this.publisher.settled();
    await this.broker.close();
  }

  // SessionHost: what sessions call.

  attach(channel: string, session: Session): Promise<void> {
    return this.channels.join(channel, session);
  }

  attachNow(channel: string, session: Session): boolean {
    return this.channels.joinNow(channel, session);
  }

  positionNow(channel: string): StreamPosition | null {
    return this.channels.positionNow(channel);
  }

  detach(channel: string, session: Session): void {
    this.channels.leave(channel, session);
  }

  positionOf(channel: string): StreamPosition | null {
    return this.channels.get(channel)?.settledPosition ?? null;
  }

  async historyFor(channel: string, since: StreamPosition | undefined): Promise<HistoryResult> {
    // The session is a member: the channel is followed, and its broker subscription is live.
    const entry = this.channels.get(channel);
    const history = await this.history(channel, since ? { since } : { limit: 0 });
    if (entry && this.channels.get(channel) === entry) entry.learnEmpty(history.top);
    return history;
  }

  recent(publication: Publication): OutboundMessage {
    return this.channels.recent(publication);
  }

  forget(session: Session, ending: CloseRequest | null): void {
    this.sessions.forget(session, ending);
  }
}

function brokerError(error: unknown): PushwireError {
  return asPushwireError(error, 'broker_unavailable');
}
