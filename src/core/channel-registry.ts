import type { Broker } from '../brokers/types.ts';
import { asPushwireError, type Publication, type StreamPosition } from '../protocol/index.ts';
import { Channel, type ChannelHost, type ChannelMember } from './channel.ts';
import { FanOut, type Scheduler } from './fan-out.ts';
import type { LatencyHistogram } from './latency.ts';
import type { Lifecycle, LifecycleClient } from './lifecycle.ts';
import { OutboundMessage } from './outbound.ts';
import type { Presence } from './presence.ts';
import type { ChannelOptions, ChannelWatcher } from './types.ts';

/** The hub's numbers that the channels keep up to date. */
export interface ChannelStats {
  /** Messages handed out (one per subscriber or watcher per message). */
  delivered: number;
  gapsRecovered: number;
  /** Publish-to-deliver time of what was fanned out to someone. */
  readonly latency: LatencyHistogram;
}

export interface ChannelRegistryOptions {
  readonly broker: Broker;
  readonly channelOptions: (channel: string) => ChannelOptions;
  readonly stats: ChannelStats;
  readonly report: (stage: string, error: unknown) => void;
  /** Where the members of channels that keep presence are told. */
  readonly presence: Presence;
  readonly lifecycle: Lifecycle | null;
  readonly scheduler?: Scheduler | undefined;
  /** Whether connections are arriving: slow fan-outs to waiting polls alone rest only then (FanOut). */
  readonly connectionsArriving?: (() => boolean) | undefined;
}

/** A session as a member of a channel. */
export type Member = ChannelMember & LifecycleClient;

/**
 * The channels this node follows. It follows a channel at the broker while (and only while)
 * someone local needs it (a session, a watcher or a hold), keeps its members (and their
 * presence), hands each publication to its Channel, and lets the fan-out deliver it to every member at the end of the turn.
 */
export class ChannelRegistry {
  private readonly channels = new Map<string, Channel>();
  /** Channels whose subscriber count may have changed since `takeCounts`. */
  private readonly countsChanged = new Set<string>();
  private readonly fanOut: FanOut<Channel>;
  private readonly host: ChannelHost;

  private readonly broker: Broker;
  private readonly channelOptions: (channel: string) => ChannelOptions;
  private readonly report: (stage: string, error: unknown) => void;
  private readonly presence: Presence;
  private readonly lifecycle: Lifecycle | null;

  constructor(options: ChannelRegistryOptions) {
    const { stats, scheduler, connectionsArriving } = options;
    this.broker = options.broker;
    this.channelOptions = options.channelOptions;
    this.report = options.report;
    this.presence = options.presence;
    this.lifecycle = options.lifecycle;
    this.fanOut = new FanOut(
      (channel, delivered) => {
        if (!channel.system) stats.delivered += delivered;
        // Watchers that took their batch stopped watching.
        if (channel.watchersLeft) {
          channel.watchersLeft = false;
          this.countsChanged.add(channel.name);
        }
        // Watchers that took their messages are gone: the channel may be needed no more.
        this.leaveIfIdle(channel);
      },
      scheduler,
      connectionsArriving,
    );
    this.host = {
      readHistory: async (channel, since) => {
        const { publications } = await this.broker.history(channel, { since });
        stats.gapsRecovered += 1;
        return publications;
      },
      queued: (channel) => this.fanOut.queue(channel),
      report: this.report,
      latency: stats.latency,
    };
  }

  get size(): number {
    return this.channels.size;
  }

  /** The channel's entry, if this node follows it. */
  get(channel: string): Channel | undefined {
    return this.channels.get(channel);
  }

  /** Who receives `channel` on this node now (sessions, and polls waiting in memory). */
  subscriberCount(channel: string): number {
    return this.channels.get(channel)?.subscriberCount ?? 0;
  }

  /** A publication from the broker, for the channel that follows it (none: dropped). */
  accept(publication: Publication): void {
    this.channels.get(publication.channel)?.accept(publication);
  }

  /** The broker is back after an outage: every channel reads what it may have missed. */
  recover(): void {
    for (const channel of this.channels.values()) channel.recover();
  }

  /** The publication as the channel keeps it (shared encodings), or a new message. */
  recent(publication: Publication): OutboundMessage {
    return this.channels.get(publication.channel)?.recentOf(publication) ?? new OutboundMessage(publication);
  }

  /** The channel's subscriber count may have changed: `takeCounts` reports it. */
  changed(channel: string): void {
    this.countsChanged.add(channel);
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

  /** The channel's entry, following it at the broker first if this node doesn't yet. */
  follow(channel: string): Channel {
    let entry = this.channels.get(channel);
    if (entry) return entry;
    const created = new Channel(channel, this.channelOptions(channel), this.host);
    created.followed = false;
    created.subscribed = this.broker.subscribe(channel);
    created.subscribed.then(
      () => {
        created.followed = true;
      },
      () => {
        if (this.channels.get(channel) === created) this.unfollow(created);
      },
    );
    this.channels.set(channel, created);
    entry = created;
    return entry;
  }

  /** `member` joins `channel`, which this node follows from now on; rejects when the broker can't. */
  async join(channel: string, member: Member): Promise<void> {
    const entry = this.follow(channel);
    entry.members.add(member);
    this.countsChanged.add(channel);
    // Told now, not once the broker follows the channel: a close meanwhile tells the unsubscribe after it.
    this.lifecycle?.subscribed(member, channel);
    try {
      await entry.subscribed;
    } catch (error) {
      if (entry.members.delete(member)) this.lifecycle?.unsubscribed(member, channel);
      throw asPushwireError(error, 'broker_unavailable');
    }
    if (entry.options.presence) this.presence.join(channel, member);
  }

  /**
   * `join` at once, for a channel this node already follows at the broker: false, with
   * nothing done, when it doesn't yet (join then waits for the broker).
   */
  joinNow(channel: string, member: Member): boolean {
    const entry = this.channels.get(channel);
    if (!entry?.followed) return false;
    entry.members.add(member);
    this.countsChanged.add(channel);
    this.lifecycle?.subscribed(member, channel);
    if (entry.options.presence) this.presence.join(channel, member);
    return true;
  }

  /** The channel's settled position, when a member could join it at once (see joinNow). */
  positionNow(channel: string): StreamPosition | null {
    const entry = this.channels.get(channel);
    return entry?.followed ? entry.settledPosition : null;
  }

  /** `member` leaves `channel` (nothing if it wasn't on it). */
  leave(channel: string, member: Member): void {
    const entry = this.channels.get(channel);
    if (!entry?.members.delete(member)) return;
    this.countsChanged.add(channel);
    this.lifecycle?.unsubscribed(member, channel);
    if (entry.options.presence) this.presence.leave(channel, member);
    this.leaveIfIdle(entry);
  }

  /** Stops following the channel at the broker when nobody local needs it any more. */
  leaveIfIdle(entry: Channel): void {
    if (!entry.idle || this.channels.get(entry.name) !== entry) return;
    this.unfollow(entry);
    this.broker.unsubscribe(entry.name).catch((error) => this.report('unsubscribe', error));
  }

  /** Ends every watcher of every channel (the node drains or closes). */
  endWatchers(end: (watcher: ChannelWatcher) => void): void {
    for (const entry of [...this.channels.values()]) {
      entry.endWatchers(end);
      this.leaveIfIdle(entry);
    }
  }

  /** Ends the watchers `which` picks, on `channel` only when given (an operator's disconnect). */
  endWatchersWhere(
    end: (watcher: ChannelWatcher) => void,
    which: (watcher: ChannelWatcher) => boolean,
    channel: string | undefined,
  ): void {
    for (const entry of [...this.channels.values()]) {
      if (channel !== undefined && entry.name !== channel) continue;
      entry.endWatchers(end, which);
      this.countsChanged.add(entry.name);
      this.leaveIfIdle(entry);
    }
  }

  /** The members of every channel whose namespace keeps presence. */
  *presenceEntries(): Generator<[string, Iterable<ChannelMember>]> {
    for (const entry of this.channels.values()) {
      if (entry.options.presence) yield [entry.name, entry.members];
    }
  }

  private unfollow(entry: Channel): void {
    this.channels.delete(entry.name);
    this.fanOut.forget(entry);
    entry.dispose();
  }
}
