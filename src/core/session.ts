import { timingSafeEqual } from 'node:crypto';
import type { PresenceInfo } from '../brokers/types.ts';
import {
  composeCursor,
  cursorSegment,
  type GapEvent,
  type GapReason,
  type Publication,
  PushwireError,
  type StreamPosition,
  type TransportName,
} from '../protocol/index.ts';
import type { Access } from './access.ts';
import type { Expiring, ExpiryWheel } from './expiry.ts';
import type { OutboundBatch, OutboundMessage } from './outbound.ts';
import { type History, type PlannedGap, plan } from './resume-plan.ts';
import type {
  CloseRequest,
  CommandResult,
  Identity,
  PublishLimitKeys,
  SessionCommand,
  SessionSink,
  SubscribeStart,
} from './types.ts';

/** The part of the hub a session talks to. */
export interface SessionHost {
  readonly access: Access;
  readonly maxChannelsPerSession: number;
  /** Credentials stay good this long past their expiry, for clocks that disagree. */
  readonly clockSkewMs: number;
  /** Ends sessions when their credentials expire. */
  readonly expiries: ExpiryWheel;
  attach(channel: string, session: Session): Promise<void>;
  detach(channel: string, session: Session): void;
  historyFor(channel: string, since: StreamPosition | undefined): Promise<History>;
  history(channel: string, query: { since?: StreamPosition; limit?: number }): Promise<History>;
  presenceOf(channel: string): Promise<PresenceInfo[]>;
  publishAs(
    identity: Identity,
    limits: PublishLimitKeys,
    channel: string,
    data: string,
    clientId: string | null,
  ): Promise<Publication>;
  recent(publication: Publication): OutboundMessage;
  /** The session is closed; `ending` says why when the server ended it. */
  forget(session: Session, ending: CloseRequest | null): void;
}

/** The most messages one history command returns. */
const MAX_HISTORY_LIMIT = 1000;

const EXPIRED: CloseRequest = Object.freeze({
  code: 'token_expired',
  reason: 'the token has expired: reconnect with a new token',
  reconnectDelayMs: 0,
});

interface Subscription {
  readonly channel: string;
  /** Live messages that arrived while history was being read; null once live. */
  buffer: OutboundMessage[] | null;
  epoch: string;
  offset: number;
  /** This channel's piece of the connection's cursor. */
  segment: string;
}

type SessionState = 'open' | 'closed';

export interface SubscribeRequest {
  readonly channel: string;
  /** Resume after this position; without it delivery starts with the next publication. */
  readonly since?: StreamPosition | undefined;
}

/**
 * One client connection's place in the hub: its channels, its position on each (which makes
 * its cursor) and the sink its transport gave. Every message reaches the sink once, in offset
 * order per channel, with gaps reported, whichever way it came (history or live).
 */
export class Session implements Expiring {
  readonly id: string;
  readonly transport: TransportName;
  readonly connectedAt = Date.now();
  /** The client's address as its transport saw it; null when unknown. */
  readonly address: string | null;
  /** The secret that lets the client's next connection replace this one (see Hub.replace); '' for none. */
  readonly replaceKey: string;
  private readonly sink: SessionSink;
  private readonly host: SessionHost;
  private readonly subscriptions = new Map<string, Subscription>();
  private state: SessionState = 'open';
  private ending: CloseRequest | null = null;
  private current: Identity;
  /** When the credentials stop being good (expiry + clock skew, ms); null: never. */
  private deadline: number | null = null;

  constructor(
    id: string,
    transport: TransportName,
    identity: Identity,
    sink: SessionSink,
    host: SessionHost,
    address: string | null = null,
    replaceKey = '',
  ) {
    this.id = id;
    this.replaceKey = replaceKey;
    this.address = address;
    this.transport = transport;
    this.current = identity;
    this.sink = sink;
    this.host = host;
    this.scheduleExpiry();
  }

  /** Who the connection is, with the rights of its latest credentials. */
  get identity(): Identity {
    return this.current;
  }

  /** When the connection's credentials expire (ms since the epoch); null when they don't. */
  get expiresAt(): number | null {
    return this.current.expiresAt ?? null;
  }

  get userId(): string | null {
    return this.current.userId;
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Bytes written to the connection and not yet sent; 0 where the transport can't tell. */
  get bufferedBytes(): number {
    return this.sink.bufferedBytes?.() ?? 0;
  }

  /**
   * Whether `key` is this connection's replaceKey: a request about the connection that comes
   * over plain HTTP (POST /subscribe, /unsubscribe, /refresh) proves with it that it comes
   * from the connection's own client, since its clientId is no secret (presence lists it).
   * Constant time, so that timing can't find the key a byte at a time; a session without a
   * key (a poll) matches none.
   */
  holdsKey(key: string): boolean {
    const expected = Buffer.from(this.replaceKey);
    const given = Buffer.from(key);
    // timingSafeEqual throws on unequal lengths; the length of a key is no secret.
    return expected.length > 0 && expected.length === given.length && timingSafeEqual(expected, given);
  }

  isSubscribed(channel: string): boolean {
    return this.subscriptions.has(channel);
  }

  /** The connection's position on all of its channels. */
  cursor(): string {
    return composeCursor(this.segments());
  }

  /**
   * Subscribes to every channel of `requests` at once, each resuming after its `since` when
   * given. Positions are all known before anything is delivered, so every cursor the
   * connection sees covers all of its channels. `onStart` runs right before the first
   * replayed message or gap, so a transport can send its reply (or first event) ahead of them.
   */
  async subscribe(
    requests: readonly SubscribeRequest[],
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): Promise<readonly SubscribeStart[]> {
    this.assertOpen();
    const added: Subscription[] = [];
    try {
      for (const { channel } of requests) added.push(this.add(channel));
      await Promise.all(
        added.map(({ channel }) => this.host.access.askRead(this.current, channel, this.id, 'subscribe')),
      );
      // The application was asked: the client may have left or unsubscribed meanwhile.
      this.assertStillSubscribed(added);
      await Promise.all(added.map((subscription) => this.host.attach(subscription.channel, this)));
      const histories = await Promise.all(
        requests.map(({ channel, since }) => this.host.historyFor(channel, since)),
      );
      this.assertStillSubscribed(added);
      const plans = added.map((subscription, i) => plan(subscription, requests[i]!.since, histories[i]!));
      for (const { subscription, position } of plans)
        this.moveTo(subscription, position.epoch, position.offset);
      const cursor = this.cursor();
      const starts = plans.map(({ subscription, position }) => ({
        channel: subscription.channel,
        position,
        cursor,
      }));
      onStart?.(starts, cursor);
      for (const { subscription, gap, replay } of plans) this.replay(subscription, gap, replay);
      return starts;
    } catch (error) {
      for (const subscription of added) {
        if (this.subscriptions.get(subscription.channel) === subscription) this.drop(subscription);
      }
      throw error;
    }
  }

  /**
   * Carries out a client's command, with the client's rights. `reply` gets the outcome: for a
   * subscribe, before the first replayed message, so the transport can send it ahead of them.
   * Rejects with a PushwireError the transport reports to the client.
   */
  async execute(command: SessionCommand, reply: (result: CommandResult) => void): Promise<void> {
    this.assertOpen();
    this.assertFresh();
    const { channel } = command;
    switch (command.op) {
      case 'subscribe': {
        await this.subscribe([{ channel, since: command.cursor?.get(channel) }], ([start]) => {
          const { epoch, offset } = start!.position;
          reply({ op: 'subscribe', channel, epoch, offset, cursor: start!.cursor });
        });
        return;
      }
      case 'unsubscribe':
        this.unsubscribe(channel);
        reply({ op: 'unsubscribe', channel });
        return;
      case 'publish': {
        const { epoch, offset } = await this.host.publishAs(
          this.identity,
          { connection: this.id, address: this.address },
          channel,
          command.data,
          this.id,
        );
        reply({ op: 'publish', channel, offset, epoch });
        return;
      }
      case 'history': {
        this.host.access.assertRead(this.identity, channel);
        await this.host.access.askRead(this.current, channel, this.id, 'history');
        const limit = Math.min(command.limit ?? MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT);
        const since = command.cursor?.get(channel);
        const { publications, top } = await this.host.history(channel, since ? { since, limit } : { limit });
        reply({ op: 'history', channel, publications, epoch: top.epoch, offset: top.offset });
        return;
      }
      case 'presence': {
        this.host.access.assertPresence(this.identity, channel);
        await this.host.access.askRead(this.current, channel, this.id, 'presence');
        reply({ op: 'presence', channel, clients: await this.host.presenceOf(channel) });
        return;
      }
    }
  }

  /** How many channels the session is on. */
  get channelCount(): number {
    return this.subscriptions.size;
  }

  /** The channels the session is on, in subscription order. */
  channels(): IterableIterator<string> {
    return this.subscriptions.keys();
  }

  unsubscribe(channel: string): void {
    const subscription = this.subscriptions.get(channel);
    if (!subscription) throw new PushwireError('not_subscribed');
    this.drop(subscription);
  }

  /** Live messages of one channel from the hub's fan-out. */
  receive(batch: OutboundBatch): void {
    const subscription = this.subscriptions.get(batch.channel);
    if (!subscription) return;
    if (this.pastDeadline()) return;
    if (subscription.buffer) {
      subscription.buffer.push(...batch.messages);
      return;
    }
    const first = batch.messages[0]!;
    if (
      batch.contiguous &&
      this.subscriptions.size === 1 &&
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

  /**
   * Goes on with new credentials of the same user: their expiry and their rights replace the
   * old ones, and each channel they no longer grant is dropped (the client is told). Throws
   * `forbidden` for another user's credentials, keeping the old ones. Returns the new expiry.
   */
  refresh(identity: Identity): number | null {
    this.assertOpen();
    this.assertFresh();
    if (identity.userId !== this.current.userId) {
      throw new PushwireError('forbidden', "the new token names another user (sub) than the connection's");
    }
    this.current = identity;
    this.scheduleExpiry();
    for (const subscription of [...this.subscriptions.values()]) {
      const { channel } = subscription;
      if (this.host.access.mayRead(identity, channel)) continue;
      this.drop(subscription);
      this.sink.dropped(channel, 'forbidden', `the new token does not grant "${channel}": unsubscribed`);
    }
    return this.expiresAt;
  }

  /** The server ends the session (drain, dead peer): the transport tells the client. */
  end(request: CloseRequest): void {
    if (this.state === 'closed') return;
    this.ending = request;
    this.sink.close(request);
    this.close();
  }

  /** The connection is gone: release everything. Safe in any state. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.host.expiries.remove(this);
    for (const subscription of [...this.subscriptions.values()]) this.drop(subscription);
    this.host.forget(this, this.ending);
  }

  private assertStillSubscribed(added: readonly Subscription[]): void {
    for (const subscription of added) {
      if (this.subscriptions.get(subscription.channel) !== subscription)
        throw new PushwireError('not_subscribed');
    }
  }

  private add(channel: string): Subscription {
    this.host.access.assertRead(this.current, channel);
    if (this.subscriptions.has(channel))
      throw new PushwireError('already_subscribed', `already subscribed to "${channel}"`);
    if (this.subscriptions.size >= this.host.maxChannelsPerSession) {
      throw new PushwireError(
        'too_many_channels',
        `at most ${this.host.maxChannelsPerSession} channels per connection`,
      );
    }
    const subscription: Subscription = { channel, buffer: [], epoch: '', offset: 0, segment: '' };
    this.subscriptions.set(channel, subscription);
    return subscription;
  }

  private replay(subscription: Subscription, gap: PlannedGap | null, replay: readonly Publication[]): void {
    if (gap)
      this.reportGap(subscription, gap.reason, gap.lastOffset, subscription.epoch, subscription.offset + 1);
    for (const publication of replay) {
      if (publication.offset > subscription.offset) this.deliver(subscription, this.host.recent(publication));
    }
    const buffered = subscription.buffer ?? [];
    subscription.buffer = null;
    for (const message of buffered) this.deliver(subscription, message);
  }

  private deliver(subscription: Subscription, message: OutboundMessage): void {
    if (this.pastDeadline()) return;
    if (message.epoch !== subscription.epoch) {
      this.reportGap(subscription, 'epoch', subscription.offset, message.epoch, message.offset);
    } else if (message.offset <= subscription.offset) {
      return; // already delivered: history and live overlap while resuming
    } else if (message.offset > subscription.offset + 1) {
      this.reportGap(subscription, 'window', subscription.offset, message.epoch, message.offset);
    }
    subscription.offset = message.offset;
    subscription.segment = message.segment;
    const cursor = this.subscriptions.size === 1 ? message.soloCursor() : this.cursor();
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

  private moveTo(subscription: Subscription, epoch: string, offset: number): void {
    subscription.epoch = epoch;
    subscription.offset = offset;
    subscription.segment = cursorSegment(subscription.channel, epoch, offset);
  }

  private drop(subscription: Subscription): void {
    this.subscriptions.delete(subscription.channel);
    this.host.detach(subscription.channel, this);
  }

  private *segments(): Generator<string> {
    for (const subscription of this.subscriptions.values()) {
      if (subscription.segment) yield subscription.segment;
    }
  }

  /**
   * Ends the session when its credentials are past their deadline, before anything more goes
   * out: the timer may run late on a busy node, and nothing published after it may reach the
   * client. True when the session is (now) closed.
   */
  private pastDeadline(): boolean {
    if (this.state === 'closed') return true;
    if (this.deadline === null || Date.now() < this.deadline) return false;
    this.end(EXPIRED);
    return true;
  }

  /** Ends the session when its credentials are past their deadline (a late timer). */
  private assertFresh(): void {
    if (this.deadline === null || Date.now() < this.deadline) return;
    this.end(EXPIRED);
    throw new PushwireError('token_expired');
  }

  /** Puts the session in the host's expiry wheel at its credentials' deadline. */
  private scheduleExpiry(): void {
    const expiresAt = this.current.expiresAt;
    this.deadline = expiresAt === undefined || expiresAt === null ? null : expiresAt + this.host.clockSkewMs;
    if (this.deadline === null) this.host.expiries.remove(this);
    else this.host.expiries.add(this, this.deadline);
  }

  /** The wheel's call at the deadline. */
  expire(): void {
    this.end(EXPIRED);
  }

  private assertOpen(): void {
    if (this.state === 'closed') throw new PushwireError('shutting_down', 'the connection is closed');
  }
}
