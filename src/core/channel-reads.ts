import type { HistoryQuery, HistoryResult } from '../brokers/types.ts';
import type { StreamPosition } from '../protocol/index.ts';
import type { Access } from './access.ts';
import type { ChannelRegistry } from './channel-registry.ts';
import type { OutboundMessage } from './outbound.ts';
import type { ChannelWatcher, Identity } from './types.ts';

/** A lease that keeps a channel followed by this node without a member (see ChannelReads.hold). */
export interface Hold {
  release(): void;
}

/** What the reads need of the hub. */
export interface ReadsHost {
  readonly running: boolean;
  readonly clockSkewMs: number;
  history(channel: string, query: HistoryQuery): Promise<HistoryResult>;
}

/**
 * The transport-neutral reads of clients without a session (long polling): what follows a
 * position from this node's memory, waiting for the next messages, and keeping a channel
 * followed between requests. Rights are checked here (`read`, `positions`) or MUST have been.
 */
export class ChannelReads {
  constructor(
    private readonly channels: ChannelRegistry,
    private readonly access: Access,
    private readonly host: ReadsHost,
  ) {}

  /**
   * When `identity`'s credentials stop being good (expiry + clock skew, ms since the epoch),
   * for readers without a session (a waiting poll); null when they don't expire.
   */
  deadlineOf(identity: Identity): number | null {
    const expiresAt = identity.expiresAt;
    return expiresAt === undefined || expiresAt === null ? null : expiresAt + this.host.clockSkewMs;
  }

  /**
   * Each channel's latest position, for a client that starts without a cursor. Its rights,
   * and the application's word where asked, come first: reading a position makes the broker
   * keep state for the channel, and tells its epoch and offset.
   */
  async positions(identity: Identity, channels: readonly string[]): Promise<Map<string, StreamPosition>> {
    for (const channel of channels) this.access.assertRead(identity, channel);
    if (channels.length === 1) return this.positionOf(identity, channels[0]!);
    await Promise.all(channels.map((channel) => this.access.askRead(identity, channel, null, 'subscribe')));
    const tops = await Promise.all(channels.map((channel) => this.host.history(channel, { limit: 0 })));
    return new Map(channels.map((channel, i) => [channel, tops[i]!.top]));
  }

  /**
   * `positions` for one channel, as nearly every poll asks: without rounds of promises, and
   * without a history read when this node follows the channel and knows its position.
   */
  private async positionOf(identity: Identity, channel: string): Promise<Map<string, StreamPosition>> {
    if (this.access.asksRead(channel)) await this.access.askRead(identity, channel, null, 'subscribe');
    const known = this.channels.get(channel)?.settledPosition;
    return new Map([[channel, known ?? (await this.host.history(channel, { limit: 0 })).top]]);
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
    if (!this.host.running) return null;
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
    if (!this.host.running) return false;
    const watching = this.channels.get(channel)?.watch(watcher, position) ?? false;
    if (watching) this.channels.changed(channel);
    return watching;
  }

  /** The watcher stops watching (it gave up, or its client left). */
  unwatch(channel: string, watcher: ChannelWatcher): void {
    const entry = this.channels.get(channel);
    if (!entry?.unwatch(watcher)) return;
    this.channels.changed(channel);
    this.channels.leaveIfIdle(entry);
  }

  /**
   * Keeps `channel` followed, with its position and recent messages, until released: for
   * clients that come right back between requests (long polls), when nobody is on it. It
   * creates state for the channel: the caller MUST hold it only for a reader whose rights
   * were checked (a `read` that answered, or a session that subscribed).
   */
  hold(channel: string): Hold {
    const entry = this.channels.follow(channel);
    entry.holds += 1;
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        entry.holds -= 1;
        this.channels.leaveIfIdle(entry);
      },
    };
  }
}
