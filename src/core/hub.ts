import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Broker, HistoryQuery, HistoryResult, PresenceInfo } from '../brokers/types.ts';
import {
  asPushwireError,
  type ErrorCode,
  isSystemChannel,
  type Publication,
  PushwireError,
  type StreamPosition,
} from '../protocol/index.ts';
import { Access, type AccessHook } from './access.ts';
import { Channel, type ChannelHost, type ChannelMember } from './channel.ts';
import { ExpiryWheel } from './expiry.ts';
import { FanOut, type Scheduler } from './fan-out.ts';
import { LatencyHistogram } from './latency.ts';
import { Lifecycle, type LifecycleOptions } from './lifecycle.ts';
import { OutboundMessage } from './outbound.ts';
import { Presence } from './presence.ts';
import { addressKey, RateLimiter } from './rate-limit.ts';
import { Session, type SessionHost } from './session.ts';
import type {
  ChannelOptions,
  ChannelWatcher,
  CloseRequest,
  Identity,
  OpenSessionOptions,
  PublishLimitKeys,
} from './types.ts';

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
  /** Where lifecycle events go (connect, subscribe, …); none when absent. */
  readonly lifecycle?: LifecycleOptions;
  /** Asks the application on channels whose options say so (subscribeHook, publishHook). */
  readonly accessHook?: AccessHook;
  /** Credentials stay good this long past their expiry, for clocks that disagree; 0 by default. */
  readonly clockSkewMs?: number;
}

/** 128 bits: a replace key can't be guessed. */
const REPLACE_KEY_BYTES = 16;

const REPLACED: CloseRequest = Object.freeze({
  code: 'replaced',
  reason: 'a newer connection of this client replaced this one',
  reconnectDelayMs: 0,
});

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

/** Which connections an operator means: every given field must match. */
export interface SessionFilter {
  readonly userId?: string;
  readonly clientId?: string;
  readonly channel?: string;
}

/** A lease that keeps a channel followed by this node without a member (see Hub.hold). */
export interface Hold {
  release(): void;
}

type HubState = 'running' | 'draining' | 'closed';

/**
 * The node's hub: the registry of the channels this node follows and the entry of every
 * publish. It follows a channel at the broker while (and only while) someone local needs it
 * (a session, a watcher or a hold), hands each publication to its Channel, and lets the
 * fan-out deliver it to every member at the end of the turn, whatever their transports.
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
  private readonly channelOptions: (channel: string) => ChannelOptions;
  private readonly report: (stage: string, error: unknown) => void;
  private readonly presence: Presence;
  private readonly fanOut: FanOut<Channel>;
  private readonly channelHost: ChannelHost;
  private readonly clientPublishLimit: RateLimiter | null;
  private readonly addressPublishLimit: RateLimiter | null;
  private readonly channels = new Map<string, Channel>();
  /** Open sessions by id, in the order they opened. */
  private readonly sessions = new Map<string, Session>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** Channels whose subscriber count may have changed since `takeCounts`. */
  private readonly countsChanged = new Set<string>();
  private readonly lifecycle: Lifecycle | null;
  private state: HubState = 'running';

  constructor(options: HubOptions) {
    this.broker = options.broker;
    this.channelOptions = options.channelOptions;
    this.maxChannelsPerSession = options.maxChannelsPerSession;
    this.clockSkewMs = options.clockSkewMs ?? 0;
    this.access = new Access(options.channelOptions, options.accessHook ?? null);
    this.report = options.report ?? (() => {});
    this.lifecycle = options.lifecycle ? new Lifecycle(this.nodeId, options.lifecycle, this.report) : null;
    this.presence = new Presence(options.broker.presence, this.report, options.presenceTtlMs);
    this.fanOut = new FanOut((channel, delivered) => {
      if (!channel.system) this.stats.delivered += delivered;
      // Watchers that took their batch stopped watching.
      if (channel.watchersLeft) {
        channel.watchersLeft = false;
        this.countsChanged.add(channel.name);
      }
      // Watchers that took their messages are gone: the channel may be needed no more.
      this.leaveIfIdle(channel);
    }, options.scheduler);
    const rate = options.clientPublishRate ?? null;
    this.clientPublishLimit = rate === null ? null : new RateLimiter(rate, rate * 2);
    const perIp = options.clientPublishRatePerIp ?? null;
    this.addressPublishLimit = perIp === null ? null : new RateLimiter(perIp, perIp * 2);
    this.channelHost = {
      readHistory: async (channel, since) => {
        const { publications } = await this.broker.history(channel, { since });
        this.stats.gapsRecovered += 1;
        return publications;
      },
      queued: (channel) => this.fanOut.queue(channel),
      report: this.report,
      latency: this.stats.latency,
    };
  }

  async start(): Promise<void> {
    await this.broker.start({
      publication: (publication) => this.channels.get(publication.channel)?.accept(publication),
      recovered: () => {
        for (const channel of this.channels.values()) channel.recover();
      },
    });
    this.presence.start(() => this.presenceEntries());
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
    return this.channels.get(channel)?.subscriberCount ?? 0;
  }

  openSession({ transport, identity, sink, address, transient = false }: OpenSessionOptions): Session {
    if (this.state !== 'running') throw new PushwireError('shutting_down');
    // A clientId addresses a live connection (POST /refresh, /subscribe): 128 random bits.
    const id = randomBytes(16).toString('base64url');
    // Transient sessions (a long poll) end with their request: nothing to replace.
    const replaceKey = transient ? '' : randomBytes(REPLACE_KEY_BYTES).toString('base64url');
    const session = new Session(id, transport, identity, sink, this, address ?? null, replaceKey);
    this.sessions.set(id, session);
    if (!transient) this.lifecycle?.connected(session);
    return session;
  }

  /**
   * When `identity`'s credentials stop being good (expiry + clock skew, ms since the epoch),
   * for readers without a session (a waiting poll); null when they don't expire.
   */
  deadlineOf(identity: Identity): number | null {
    const expiresAt = identity.expiresAt;
    return expiresAt === undefined || expiresAt === null ? null : expiresAt + this.clockSkewMs;
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
    clientId: string | null = null,
  ): Promise<Publication> {
    this.access.assertPublish(identity, channel);
    if (this.clientPublishLimit && !this.clientPublishLimit.take(limits.connection)) {
      this.stats.publishesRateLimited += 1;
      throw new PushwireError('rate_limited', 'too many publishes on this connection: slow down');
    }
    if (limits.address !== null && this.addressPublishLimit?.take(addressKey(limits.address)) === false) {
      this.stats.publishesRateLimited += 1;
      this.stats.publishesRateLimitedByAddress += 1;
      throw new PushwireError('rate_limited', 'too many publishes from this address: slow down');
    }
    const final = await this.access.askPublish(identity, channel, data, clientId);
    return this.send(channel, final, { clientId, user: identity.userId });
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

  /**
   * Each channel's latest position, for a client that starts without a cursor. Its rights,
   * and the application's word where asked, come first: reading a position makes the broker
   * keep state for the channel, and tells its epoch and offset.
   */
  async positions(identity: Identity, channels: readonly string[]): Promise<Map<string, StreamPosition>> {
    for (const channel of channels) this.access.assertRead(identity, channel);
    await Promise.all(channels.map((channel) => this.access.askRead(identity, channel, null, 'subscribe')));
    const tops = await Promise.all(channels.map((channel) => this.history(channel, { limit: 0 })));
    return new Map(channels.map((channel, i) => [channel, tops[i]!.top]));
  }

  /**
   * What follows `since` on `channel`, from this node's memory, for a reader without a
   * session: the messages after it, none when `since` is the latest position, or null when
   * memory can't tell (the node doesn't follow the channel, the reader may not read it, the
   * channel needs a session for presence, or see Channel.after). The caller then opens a
   * session, which reads history and reports gaps and errors (and asks the application where
   * the channel's namespace says so).
   */
  read(identity: Identity, channel: string, since: StreamPosition): readonly OutboundMessage[] | null {
    if (this.state !== 'running') return null;
    const entry = this.channels.get(channel);
    if (!entry || entry.options.presence || !this.access.mayReadUnasked(identity, channel)) return null;
    return entry.after(since, Date.now());
  }

  /**
   * Tells `watcher` of the channel's next messages. Only at the channel's latest position
   * (after `read` gave nothing new this turn); false otherwise. The caller MUST have had the
   * reader's rights checked by `read` first: this one takes no identity.
   */
  watch(channel: string, position: StreamPosition, watcher: ChannelWatcher): boolean {
    if (this.state !== 'running') return false;
    const watching = this.channels.get(channel)?.watch(watcher, position) ?? false;
    if (watching) this.countsChanged.add(channel);
    return watching;
  }

  /** The watcher stops watching (it gave up, or its client left). */
  unwatch(channel: string, watcher: ChannelWatcher): void {
    const entry = this.channels.get(channel);
    if (!entry?.unwatch(watcher)) return;
    this.countsChanged.add(channel);
    this.leaveIfIdle(entry);
  }

  /**
   * Keeps `channel` followed, with its position and recent messages, until released: for
   * clients that come right back between requests (long polls), when nobody is on it. It
   * creates state for the channel: the caller MUST hold it only for a reader whose rights
   * were checked (a `read` that answered, or a session that subscribed).
   */
  hold(channel: string): Hold {
    const entry = this.follow(channel);
    entry.holds += 1;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        entry.holds -= 1;
        this.leaveIfIdle(entry);
      },
    };
  }

  /** The open session of a client connection (not a poll's) by its id. */
  session(clientId: string): Session | null {
    const session = this.sessions.get(clientId);
    return session && session.transport !== 'longpoll' ? session : null;
  }

  /** The open sessions that match `filter`, in the order they opened. */
  sessionsMatching(filter: SessionFilter): Session[] {
    const found: Session[] = [];
    if (filter.clientId !== undefined) {
      const session = this.sessions.get(filter.clientId);
      return session && matches(session, filter) ? [session] : [];
    }
    for (const session of this.sessions.values()) if (matches(session, filter)) found.push(session);
    return found;
  }

  /**
   * Ends session `clientId` at once with `replaced`, if it is open here and `key` is its
   * replace key: its client came back on a new connection, so the old one is a dead peer's
   * (a network that dropped without a FIN leaves an SSE or stream response open for minutes).
   * The key, given only to that connection, and the user must both match, so that knowing a
   * clientId (presence shows it) is not enough to cut someone off. True if it ended one.
   */
  replace(clientId: string, key: string, userId: string | null): boolean {
    const session = this.sessions.get(clientId);
    if (!session || session.userId !== userId || !sameSecret(session.replaceKey, key)) return false;
    session.end(REPLACED);
    return true;
  }

  /**
   * Ends the sessions that match `filter` with `request` (an operator's disconnect), and the
   * polls of `filter.userId` waiting in memory. Returns how many connections it ended.
   */
  disconnect(filter: SessionFilter, request: CloseRequest): number {
    let ended = 0;
    for (const session of this.sessionsMatching(filter)) {
      session.end(request);
      ended++;
    }
    const userId = filter.userId;
    if (userId !== undefined && filter.clientId === undefined) {
      for (const entry of [...this.channels.values()]) {
        if (filter.channel !== undefined && entry.name !== filter.channel) continue;
        entry.endWatchers(
          (watcher) => {
            this.countEnded(request.code);
            watcher.end(request);
            ended++;
          },
          (watcher) => watcher.userId === userId,
        );
        this.countsChanged.add(entry.name);
        this.leaveIfIdle(entry);
      }
    }
    return ended;
  }

  /**
   * The local subscriber count of every channel whose count may have changed since the last
   * call (0 for channels no longer followed); with `all`, of every followed channel instead.
   */
  takeCounts(all = false): Map<string, number> {
    const counts = new Map<string, number>();
    const names = all ? new Set([...this.channels.keys(), ...this.countsChanged]) : this.countsChanged;
    for (const name of names) counts.set(name, this.channels.get(name)?.subscriberCount ?? 0);
    this.countsChanged.clear();
    return counts;
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
    for (const session of [...this.sessions.values()]) session.end(spread());
    this.endWatchers((watcher) => watcher.end(spread()));
    await Promise.allSettled([...this.inflight]);
  }

  /** Ends every session without a word and closes the broker. Safe in any state. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.presence.stop();
    this.expiries.stop();
    for (const session of [...this.sessions.values()]) session.close();
    this.endWatchers((watcher) => watcher.end(null));
    await Promise.allSettled([...this.inflight]);
    await this.broker.close();
  }

  // SessionHost: what sessions call.

  async attach(channel: string, session: Session): Promise<void> {
    const entry = this.follow(channel);
    entry.members.add(session);
    this.countsChanged.add(channel);
    // Told now, not once the broker follows the channel: a close meanwhile tells the unsubscribe after it.
    this.lifecycle?.subscribed(session, channel);
    try {
      await entry.subscribed;
    } catch (error) {
      if (entry.members.delete(session)) this.lifecycle?.unsubscribed(session, channel);
      throw brokerError(error);
    }
    if (entry.options.presence) this.presence.join(channel, session);
  }

  detach(channel: string, session: Session): void {
    const entry = this.channels.get(channel);
    if (!entry?.members.delete(session)) return;
    this.countsChanged.add(channel);
    this.lifecycle?.unsubscribed(session, channel);
    if (entry.options.presence) this.presence.leave(channel, session);
    this.leaveIfIdle(entry);
  }

  historyFor(channel: string, since: StreamPosition | undefined): Promise<HistoryResult> {
    return this.history(channel, since ? { since } : { limit: 0 });
  }

  recent(publication: Publication): OutboundMessage {
    return this.channels.get(publication.channel)?.recentOf(publication) ?? new OutboundMessage(publication);
  }

  forget(session: Session, ending: CloseRequest | null): void {
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
    if (ending) this.countEnded(ending.code);
    this.lifecycle?.disconnected(session, ending, this.state === 'closed');
  }

  /** A connection the server ended with `code`, for operators. */
  private countEnded(code: ErrorCode): void {
    this.stats.ended[code] = (this.stats.ended[code] ?? 0) + 1;
  }

  /** Every publish ends here; `by` is the publishing client, for lifecycle events. */
  private send(
    channel: string,
    data: string,
    by: { clientId: string | null; user: string | null } | null,
  ): Promise<Publication> {
    if (this.state === 'closed') return Promise.reject(new PushwireError('shutting_down'));
    const options = this.channelOptions(channel);
    const publishing = this.broker
      .publish(channel, data, {
        historySize: options.historySize,
        historyTtlMs: options.historyTtlMs,
        historyMinAgeMs: options.historyMinAgeMs ?? 0,
      })
      .then(
        (publication) => {
          if (!isSystemChannel(channel)) this.stats.published += 1;
          this.lifecycle?.published(publication, by);
          return publication;
        },
        (error: unknown) => {
          throw brokerError(error);
        },
      );
    this.inflight.add(publishing);
    const settle = () => this.inflight.delete(publishing);
    publishing.then(settle, settle);
    return publishing;
  }

  /** The channel's entry, following it at the broker first if this node doesn't yet. */
  private follow(channel: string): Channel {
    let entry = this.channels.get(channel);
    if (entry) return entry;
    const created = new Channel(channel, this.channelOptions(channel), this.channelHost);
    created.subscribed = this.broker.subscribe(channel);
    created.subscribed.catch(() => {
      if (this.channels.get(channel) === created) this.unfollow(created);
    });
    this.channels.set(channel, created);
    entry = created;
    return entry;
  }

  private leaveIfIdle(entry: Channel): void {
    if (!entry.idle || this.channels.get(entry.name) !== entry) return;
    this.unfollow(entry);
    this.broker.unsubscribe(entry.name).catch((error) => this.report('unsubscribe', error));
  }

  private unfollow(entry: Channel): void {
    this.channels.delete(entry.name);
    this.fanOut.forget(entry);
    entry.dispose();
  }

  private endWatchers(end: (watcher: ChannelWatcher) => void): void {
    for (const entry of [...this.channels.values()]) {
      entry.endWatchers(end);
      this.leaveIfIdle(entry);
    }
  }

  private *presenceEntries(): Generator<[string, Iterable<ChannelMember>]> {
    for (const entry of this.channels.values()) {
      if (entry.options.presence) yield [entry.name, entry.members];
    }
  }
}

/** Compares secrets in time that doesn't depend on where they differ. */
function sameSecret(expected: string, given: string): boolean {
  const [a, b] = [Buffer.from(expected), Buffer.from(given)];
  // Bytes, not characters: timingSafeEqual throws on buffers of unequal length.
  return a.length > 0 && a.length === b.length && timingSafeEqual(a, b);
}

function matches(session: Session, { userId, clientId, channel }: SessionFilter): boolean {
  if (clientId !== undefined && session.id !== clientId) return false;
  if (userId !== undefined && session.userId !== userId) return false;
  return channel === undefined || session.isSubscribed(channel);
}

function brokerError(error: unknown): PushwireError {
  return asPushwireError(error, 'broker_unavailable');
}
