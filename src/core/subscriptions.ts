import {
  cursorSegment,
  EMPTY_CURSOR,
  type GapEvent,
  type GapReason,
  type Publication,
  PushwireError,
} from '../protocol/index.ts';
import type { OutboundBatch, OutboundMessage } from './outbound.ts';
import type { PlannedGap } from './resume-plan.ts';
import type { SessionSink } from './types.ts';

/** One channel of a connection, and the connection's position on it. */
export interface Subscription {
  readonly channel: string;
  /** Live messages that arrived while history was being read; null once live. */
  buffer: OutboundMessage[] | null;
  epoch: string;
  offset: number;
  /** This channel's piece of the connection's cursor. */
  segment: string;
}

/** What a connection's subscriptions ask of its session. */
export interface SubscriptionsOwner {
  /** The message of a replayed publication, sharing encodings where the hub has them. */
  recentMessage(publication: Publication): OutboundMessage;
  /** True when nothing more may go out (the connection closed or its credentials expired). */
  stopped(): boolean;
}

/**
 * The last segment built, for the next subscription to the same position: connections that
 * join a channel together (a deploy, a broadcast's audience) share one string instead of
 * keeping one each.
 */
let lastSegment = { channel: '', epoch: '', offset: -1, segment: '' };

function segmentOf(channel: string, epoch: string, offset: number): string {
  const last = lastSegment;
  if (last.offset === offset && last.channel === channel && last.epoch === epoch) return last.segment;
  const segment = cursorSegment(channel, epoch, offset);
  lastSegment = { channel, epoch, offset, segment };
  return segment;
}

/**
 * A connection's channels and its position on each, which make its cursor. Every message
 * reaches the sink once, in offset order per channel, with gaps reported, whichever way it
 * came (history or live).
 */
export class Subscriptions {
  /**
   * Nearly every connection follows one channel: it is kept here, and a Map (about a quarter
   * of an idle connection's own heap) is made only for a second one, then holds them all.
   */
  private only: Subscription | null = null;
  private byChannel: Map<string, Subscription> | null = null;

  constructor(
    private readonly sink: SessionSink,
    /** An object, not closures: they would be kept per connection. */
    private readonly owner: SubscriptionsOwner,
  ) {}

  get size(): number {
    return this.byChannel ? this.byChannel.size : this.only ? 1 : 0;
  }

  has(channel: string): boolean {
    return this.get(channel) !== undefined;
  }

  get(channel: string): Subscription | undefined {
    if (this.byChannel) return this.byChannel.get(channel);
    return this.only?.channel === channel ? this.only : undefined;
  }

  /** The channels, in subscription order. */
  channels(): IterableIterator<string> {
    if (this.byChannel) return this.byChannel.keys();
    return (this.only ? [this.only.channel] : []).values();
  }

  /** Every subscription, as a copy: safe to drop from while going over it. */
  all(): Subscription[] {
    if (this.byChannel) return [...this.byChannel.values()];
    return this.only ? [this.only] : [];
  }

  /** A new subscription to `channel`, buffering live messages until its replay. */
  add(channel: string, max: number): Subscription {
    if (this.has(channel))
      throw new PushwireError('already_subscribed', `already subscribed to "${channel}"`);
    if (this.size >= max) {
      throw new PushwireError('too_many_channels', `at most ${max} channels per connection`);
    }
    const subscription: Subscription = { channel, buffer: [], epoch: '', offset: 0, segment: '' };
    if (this.byChannel) this.byChannel.set(channel, subscription);
    else if (this.only) {
      this.byChannel = new Map([
        [this.only.channel, this.only],
        [channel, subscription],
      ]);
      this.only = null;
    } else this.only = subscription;
    return subscription;
  }

  delete(subscription: Subscription): void {
    if (this.byChannel) this.byChannel.delete(subscription.channel);
    else if (this.only === subscription) this.only = null;
  }

  /** Throws not_subscribed unless every one of `added` is still its channel's subscription. */
  assertStillSubscribed(added: Subscription | readonly Subscription[]): void {
    if (!Array.isArray(added)) {
      const one = added as Subscription;
      if (this.get(one.channel) !== one) throw new PushwireError('not_subscribed');
      return;
    }
    for (const subscription of added as readonly Subscription[]) {
      if (this.get(subscription.channel) !== subscription) throw new PushwireError('not_subscribed');
    }
  }

  /** The connection's position on all of its channels. */
  cursor(): string {
    // composeCursor's result, built without a generator: it runs on every connect.
    if (!this.byChannel) return this.only ? EMPTY_CURSOR + this.only.segment : EMPTY_CURSOR;
    let cursor = EMPTY_CURSOR;
    for (const subscription of this.byChannel.values()) cursor += subscription.segment;
    return cursor;
  }

  moveTo(subscription: Subscription, epoch: string, offset: number): void {
    subscription.epoch = epoch;
    subscription.offset = offset;
    subscription.segment = segmentOf(subscription.channel, epoch, offset);
  }

  /** The start of a subscription: its gap, its history, then what arrived live meanwhile. */
  replay(subscription: Subscription, gap: PlannedGap | null, replay: readonly Publication[]): void {
    if (gap)
      this.reportGap(subscription, gap.reason, gap.lastOffset, subscription.epoch, subscription.offset + 1);
    for (const publication of replay) {
      if (publication.offset > subscription.offset)
        this.deliver(subscription, this.owner.recentMessage(publication));
    }
    const buffered = subscription.buffer ?? [];
    subscription.buffer = null;
    for (const message of buffered) this.deliver(subscription, message);
  }

  /** Live messages of a subscription past its replay. */
  receive(subscription: Subscription, batch: OutboundBatch): void {
    const first = batch.messages[0]!;
    if (
      batch.contiguous &&
      this.size === 1 &&
      first.epoch === subscription.epoch &&
      first.offset === subscription.offset + 1
    ) {
      // The common case: each message's cursor is its one-channel cursor, shared bytes fit.
      const last = batch.last;
      subscription.offset = last.offset;
      subscription.segment = last.segment;
      this.sink.batch(batch);
      return;
    }
    for (const message of batch.messages) this.deliver(subscription, message);
  }

  private deliver(subscription: Subscription, message: OutboundMessage): void {
    if (this.owner.stopped()) return;
    if (message.epoch !== subscription.epoch) {
      this.reportGap(subscription, 'epoch', subscription.offset, message.epoch, message.offset);
    } else if (message.offset <= subscription.offset) {
      return; // already delivered: history and live overlap while resuming
    } else if (message.offset > subscription.offset + 1) {
      this.reportGap(subscription, 'window', subscription.offset, message.epoch, message.offset);
    }
    subscription.offset = message.offset;
    subscription.segment = message.segment;
    const cursor = this.size === 1 ? message.soloCursor() : this.cursor();
    this.sink.message(message, cursor);
  }

  private reportGap(
    subscription: Subscription,
    reason: GapReason,
    lastOffset: number | null,
    epoch: string,
    next: number,
  ): void {
    this.moveTo(subscription, epoch, next - 1);
    const event: GapEvent = {
      op: 'gap',
      channel: subscription.channel,
      reason,
      epoch,
      lastOffset,
      nextOffset: next,
      cursor: this.cursor(),
    };
    this.sink.gap(event);
  }
}
