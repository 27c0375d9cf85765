import { isSystemChannel, type Publication, type StreamPosition } from '../protocol/index.ts';
import type { LatencyHistogram } from './latency.ts';
import { OutboundBatch, OutboundMessage } from './outbound.ts';
import type { PresenceMember } from './presence.ts';
import type { ChannelOptions, ChannelWatcher } from './types.ts';

/** What a channel asks of the hub that holds it. */
export interface ChannelHost {
  /** Publications after `since`, to fill a hole in the stream. MAY reject (the hole stays). */
  readHistory(channel: string, since: StreamPosition): Promise<readonly Publication[]>;
  /** The channel has messages in its outbox: fan them out soon. */
  queued(channel: Channel): void;
  report(stage: string, error: unknown): void;
  /** Where the publish-to-deliver time of what reached someone is counted. */
  readonly latency: LatencyHistogram;
}

/** A local subscriber: gets each fanned-out batch. MUST NOT block; MAY throw (it is then dropped). */
export interface ChannelMember extends PresenceMember {
  receive(batch: OutboundBatch): void;
  close(): void;
}

/**
 * Each channel keeps its last messages (as many as its history, within these bounds) for
 * replays and for readers that come back behind: under load a long-poll client comes back
 * seconds behind, and everything it missed should still be in memory.
 */
const RECENT_MIN = 128;
const RECENT_MAX = 1000;
/**
 * Past RECENT_MAX, messages younger than the channel's historyMinAgeMs stay too, up to this
 * many: a poller that fell that far behind is answered with encodings every poll shares.
 */
const RECENT_BY_AGE_MAX = 10_000;
const NOTHING_NEW: readonly OutboundMessage[] = Object.freeze([]);
/**
 * At most this many message references in the lists `after` remembers for a channel: readers
 * coming back from every offset make it hold a few copies of its recent list, not one per offset.
 */
const TAILS_MAX_REFERENCES = 4 * RECENT_MAX;

/**
 * One channel as this node follows it: its stream position, its recent messages, the
 * messages accepted this turn (its outbox), its local members and watchers. It keeps the
 * stream continuous: a publication that skips offsets makes it read the hole from history,
 * holding later ones back, before going on. Knows nothing of sessions' cursors or transports.
 */
export class Channel {
  readonly members = new Set<ChannelMember>();
  /** Settles once the broker delivers this channel's publications to this node. */
  subscribed: Promise<void> = Promise.resolve();
  /** True once `subscribed` has resolved: a member can then join without waiting. */
  followed = true;
  /** Leases that keep the channel followed without a member (see Hub.hold). */
  holds = 0;
  /** The server's own ($admin:stats): its traffic is left out of the application's numbers. */
  readonly system: boolean;
  /** Set when a flush ended watches (their polls got their answer); the hub resets it. */
  watchersLeft = false;
  private watchers = new Set<ChannelWatcher>();
  /** The last publication taken: the next one must follow it. */
  private position: StreamPosition | null = null;
  /** Publications held back while history fills a hole; null when not recovering. */
  private pending: Publication[] | null = null;
  private readonly recent = new Map<number, OutboundMessage>();
  private readonly recentLimit: number;
  /**
   * What `after` found following each offset since the last message (take forgets it, so
   * that it never keeps messages `recent` let go): under load the long polls of a channel
   * come back from a few offsets, thousands of times between two messages, and each would
   * otherwise look up and copy every message it missed.
   */
  private readonly tails = new Map<number, readonly OutboundMessage[] | null>();
  private tailsReferences = 0;
  private outbox: OutboundMessage[] = [];
  private gone = false;

  constructor(
    readonly name: string,
    readonly options: ChannelOptions,
    private readonly host: ChannelHost,
  ) {
    // A history kept by age (historyMinAgeMs) can hold more than its count: keep the most.
    const held = options.historyMinAgeMs && options.historySize > 0 ? RECENT_MAX : options.historySize;
    this.recentLimit = Math.min(RECENT_MAX, Math.max(RECENT_MIN, held));
    this.system = isSystemChannel(name);
  }

  /** Nobody needs the channel any more: no member, no watcher, no hold. */
  get idle(): boolean {
    return this.members.size === 0 && this.watchers.size === 0 && this.holds === 0;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Whether it has members (connections that stay), not only polls waiting in memory. */
  get hasMembers(): boolean {
    return this.members.size > 0;
  }

  /** Who receives the channel's messages here now: members, and polls waiting in memory. */
  get subscriberCount(): number {
    return this.members.size + this.watchers.size;
  }

  /**
   * The channel's latest position as this node knows it; null until a publication, or a
   * read of its empty stream (learnEmpty), tells it.
   */
  get latest(): StreamPosition | null {
    return this.position;
  }

  /**
   * The latest position when memory can vouch for it (known, and no hole being mended):
   * a subscriber without a cursor starts there without reading history.
   */
  get settledPosition(): StreamPosition | null {
    return this.pending ? null : this.position;
  }

  /**
   * A history read made while this node followed the channel found its stream empty
   * (offset 0): that is the position until the first publication, which must follow it. Only
   * offset 0 can be learned this way: no publication at or before it can still be on its way
   * to `accept`, which would drop it as seen.
   */
  learnEmpty(top: StreamPosition): void {
    if (this.position || this.pending || this.gone || top.offset !== 0) return;
    this.position = { epoch: top.epoch, offset: 0 };
  }

  /** A publication from the broker. */
  accept(publication: Publication): void {
    if (this.pending) {
      this.pending.push(publication);
      return;
    }
    const position = this.position;
    if (position && publication.epoch === position.epoch) {
      if (publication.offset <= position.offset) return; // seen already (recovery overlap)
      if (publication.offset > position.offset + 1) {
        this.recover([publication]);
        return;
      }
    } else if (position && publication.offset > 1) {
      // A new epoch seen first past its start (the broker lost its data and was published to
      // before this node resubscribed): what came before it in that epoch may be in history.
      this.recover([publication]);
      return;
    }
    this.take(publication);
  }

  /** The broker's link came back: whatever was published meanwhile is read from history. */
  recover(held: Publication[] = []): void {
    const since = this.position;
    if (!since || this.pending) {
      this.pending?.push(...held);
      return;
    }
    this.pending = held;
    this.host
      .readHistory(this.name, since)
      .catch((error: unknown) => {
        this.host.report('recover', error);
        return [] as readonly Publication[];
      })
      .then((filled) => {
        const pending = this.pending ?? [];
        this.pending = null;
        if (this.gone) return;
        // What history couldn't fill stays a hole: sessions report it as a gap.
        for (const publication of [...filled, ...pending]) {
          const position = this.position;
          if (position && publication.epoch === position.epoch && publication.offset <= position.offset)
            continue;
          this.take(publication);
        }
      });
  }

  /** The recent message of `publication`, so replays reuse its encodings; else a new one. */
  recentOf(publication: Publication): OutboundMessage {
    const known = this.recent.get(publication.offset);
    return known?.epoch === publication.epoch ? known : new OutboundMessage(publication);
  }

  /**
   * What follows `since`, from memory: the messages after it (none when `since` is the
   * latest position). Null when memory can't tell for sure: the position is not known yet,
   * the stream is mending a hole, `since` is ahead, of another epoch, or older than the
   * channel's history (by count or age) or its recent messages. The caller then reads
   * history, which reports gaps and errors.
   */
  after(since: StreamPosition, now: number): readonly OutboundMessage[] | null {
    const position = this.position;
    if (!position || this.pending || position.epoch !== since.epoch) return null;
    if (since.offset > position.offset || since.offset < 0) return null;
    if (since.offset === position.offset) return NOTHING_NEW;
    const messages = this.tailAfter(since.offset, position);
    if (messages === null) return null;
    // Memory must not answer for longer than history does (past it, a gap is reported): the
    // broker's window (memory.ts beyondWindow) holds the last historySize messages and every
    // one younger than historyMinAgeMs, none older than historyTtlMs.
    const oldest = messages[0]!.time;
    const { historySize, historyTtlMs, historyMinAgeMs = 0 } = this.options;
    const keptByAge = historySize > 0 && historyMinAgeMs > 0 && oldest >= now - historyMinAgeMs;
    if (position.offset - since.offset > historySize && !keptByAge) return null;
    if (historyTtlMs !== null && oldest < now - historyTtlMs) return null;
    return messages;
  }

  /**
   * The recent messages from `offset + 1` to `position` (the latest, whose epoch the caller
   * checked), or null when memory has a hole there or one of another epoch. Remembered until
   * the next message: `recent` changes only then (take).
   */
  private tailAfter(offset: number, position: StreamPosition): readonly OutboundMessage[] | null {
    const known = this.tails.get(offset);
    if (known !== undefined) return known;
    let messages: OutboundMessage[] | null = [];
    for (let next = offset + 1; next <= position.offset; next++) {
      const message = this.recent.get(next);
      if (message?.epoch !== position.epoch) {
        messages = null;
        break;
      }
      messages.push(message);
    }
    const references = messages?.length ?? 1;
    if (this.tailsReferences + references > TAILS_MAX_REFERENCES) this.forgetTails();
    this.tails.set(offset, messages);
    this.tailsReferences += references;
    return messages;
  }

  /** Adds a watcher at the latest position; false when `position` is not the latest. */
  watch(watcher: ChannelWatcher, position: StreamPosition): boolean {
    const latest = this.position;
    if (!latest || latest.epoch !== position.epoch || latest.offset !== position.offset) return false;
    this.watchers.add(watcher);
    return true;
  }

  unwatch(watcher: ChannelWatcher): boolean {
    return this.watchers.delete(watcher);
  }

  /** Hands every watcher (or those `which` picks) to `end` and forgets them (drain, close, disconnect). */
  endWatchers(end: (watcher: ChannelWatcher) => void, which?: (watcher: ChannelWatcher) => boolean): void {
    const watchers = this.watchers;
    this.watchers = new Set();
    for (const watcher of watchers) {
      if (!which || which(watcher)) end(watcher);
      else this.watchers.add(watcher);
    }
  }

  /**
   * Fans the outbox out as one batch to every member and watcher. Returns the number of
   * messages handed out. A member that throws is closed; the others still get the batch.
   */
  flush(): number {
    if (this.outbox.length === 0) return 0;
    const batch = new OutboundBatch(this.outbox);
    this.outbox = [];
    let delivered = 0;
    for (const member of this.members) {
      try {
        member.receive(batch);
        delivered += batch.messages.length;
      } catch (error) {
        this.host.report('deliver', error);
        member.close();
      }
    }
    if (this.watchers.size > 0) delivered += this.notifyWatchers(batch);
    if (delivered > 0 && !this.system) this.host.latency.observeBatch(batch);
    return delivered;
  }

  /** The hub let go of the channel: late history reads must not revive it. */
  dispose(): void {
    this.gone = true;
  }

  private notifyWatchers(batch: OutboundBatch): number {
    const watchers = this.watchers;
    this.watchers = new Set();
    let delivered = 0;
    for (const watcher of watchers) {
      try {
        const taken = watcher.next(batch);
        if (taken === null) this.watchers.add(watcher);
        else {
          delivered += taken;
          this.watchersLeft = true;
        }
      } catch (error) {
        this.host.report('deliver', error);
      }
    }
    return delivered;
  }

  private trimRecent(now: number): void {
    const minAge = this.options.historySize > 0 ? (this.options.historyMinAgeMs ?? 0) : 0;
    const young = now - minAge;
    for (const [offset, message] of this.recent) {
      if (this.recent.size <= this.recentLimit) return;
      if (minAge > 0 && this.recent.size <= RECENT_BY_AGE_MAX && message.time >= young) return;
      this.recent.delete(offset);
    }
  }

  private forgetTails(): void {
    this.tails.clear();
    this.tailsReferences = 0;
  }

  private take(publication: Publication): void {
    if (this.tails.size > 0) this.forgetTails();
    const message = new OutboundMessage(publication);
    this.position = { epoch: publication.epoch, offset: publication.offset };
    this.recent.set(publication.offset, message);
    if (this.recent.size > this.recentLimit) this.trimRecent(publication.time);
    this.outbox.push(message);
    if (this.outbox.length === 1) this.host.queued(this);
  }
}
