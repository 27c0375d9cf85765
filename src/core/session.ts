import { timingSafeEqual } from 'node:crypto';
import {
  type Publication,
  PushwireError,
  type StreamPosition,
  type TransportName,
} from '../protocol/index.ts';
import type { OutboundBatch, OutboundMessage } from './outbound.ts';
import { type History, plan } from './resume-plan.ts';
import { type CommandHost, carryOut } from './session-commands.ts';
import { Credentials, type CredentialsHost } from './session-credentials.ts';
import { type Subscription, Subscriptions, type SubscriptionsOwner } from './subscriptions.ts';
import type {
  CloseRequest,
  CommandResult,
  Identity,
  SessionCommand,
  SessionSink,
  SubscribeRequest,
  SubscribeStart,
} from './types.ts';

/** The part of the hub a session talks to. */
export interface SessionHost extends CommandHost, CredentialsHost {
  readonly maxChannelsPerSession: number;
  attach(channel: string, session: Session): Promise<void>;
  /** `attach` at once when this node already follows the channel; false, with nothing done, when not. */
  attachNow(channel: string, session: Session): boolean;
  /** The channel's position when a member could attach at once and start there (see attachNow). */
  positionNow(channel: string): StreamPosition | null;
  detach(channel: string, session: Session): void;
  /**
   * The history a subscribing member of `channel` starts from (its cursor's replay, or just
   * the top); called only once the member is attached.
   */
  historyFor(channel: string, since: StreamPosition | undefined): Promise<History>;
  /** The channel's latest position when this node can vouch for it without reading history. */
  positionOf(channel: string): StreamPosition | null;
  recent(publication: Publication): OutboundMessage;
  /** The session is closed; `ending` says why when the server ended it. */
  forget(session: Session, ending: CloseRequest | null): void;
}

type SessionState = 'open' | 'closed';

const NOTHING: readonly Publication[] = [];

/**
 * One client connection's place in the hub: whether it is open, its channels and its position
 * on each (Subscriptions, which deliver in order to the sink its transport gave), and its
 * credentials (Credentials). Subscribing, refreshing and ending it happen here; the commands
 * of its client are carried out by session-commands.ts.
 */
export class Session implements SubscriptionsOwner {
  readonly id: string;
  readonly transport: TransportName;
  readonly connectedAt = Date.now();
  /** The client's address as its transport saw it; null when unknown. */
  readonly address: string | null;
  /** The secret that lets the client's next connection replace this one (see Hub.replace); '' for none. */
  readonly replaceKey: string;
  private readonly sink: SessionSink;
  private readonly host: SessionHost;
  private readonly subscriptions: Subscriptions;
  private state: SessionState = 'open';
  private ending: CloseRequest | null = null;
  private readonly credentials: Credentials;

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
    this.sink = sink;
    this.host = host;
    this.credentials = new Credentials(identity, host, this);
    this.subscriptions = new Subscriptions(sink, this);
  }

  /** Who the connection is, with the rights of its latest credentials. */
  get identity(): Identity {
    return this.credentials.identity;
  }

  /** When the connection's credentials expire (ms since the epoch); null when they don't. */
  get expiresAt(): number | null {
    return this.credentials.expiresAt;
  }

  get userId(): string | null {
    return this.credentials.identity.userId;
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
    return this.subscriptions.cursor();
  }

  /**
   * Subscribes to every channel of `requests` at once, each resuming after its `since` when
   * given. Positions are all known before anything is delivered, so every cursor the
   * connection sees covers all of its channels. `onStart` runs right before the first
   * replayed message or gap, so a transport can send its reply (or first event) ahead of them.
   */
  subscribe(
    requests: readonly SubscribeRequest[],
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): Promise<readonly SubscribeStart[]> {
    // Not itself async: one promise fewer per subscribe.
    return requests.length === 1
      ? this.subscribeOne(requests[0]!, onStart)
      : this.subscribeMany(requests, onStart);
  }

  private async subscribeMany(
    requests: readonly SubscribeRequest[],
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): Promise<readonly SubscribeStart[]> {
    this.assertOpen();
    const added: Subscription[] = [];
    try {
      for (const { channel } of requests) added.push(this.add(channel));
      await Promise.all(
        added.map(({ channel }) => this.host.access.askRead(this.identity, channel, this.id, 'subscribe')),
      );
      // The application was asked: the client may have left or unsubscribed meanwhile.
      this.subscriptions.assertStillSubscribed(added);
      await Promise.all(added.map((subscription) => this.host.attach(subscription.channel, this)));
      const histories = await Promise.all(
        requests.map(({ channel, since }) => this.host.historyFor(channel, since)),
      );
      this.subscriptions.assertStillSubscribed(added);
      const plans = added.map((subscription, i) => plan(subscription, requests[i]!.since, histories[i]!));
      for (const { subscription, position } of plans)
        this.subscriptions.moveTo(subscription, position.epoch, position.offset);
      const cursor = this.cursor();
      const starts = plans.map(({ subscription, position }) => ({
        channel: subscription.channel,
        position,
        cursor,
      }));
      onStart?.(starts, cursor);
      for (const { subscription, gap, replay } of plans) this.subscriptions.replay(subscription, gap, replay);
      return starts;
    } catch (error) {
      for (const subscription of added) {
        if (this.subscriptions.get(subscription.channel) === subscription) this.drop(subscription);
      }
      throw error;
    }
  }

  /**
   * `subscribe` for one channel, as nearly every connection does: the same steps without the
   * rounds of promises and arrays, and without a history read when there is nothing to replay
   * and this node knows the channel's position.
   */
  private async subscribeOne(
    { channel, since }: SubscribeRequest,
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): Promise<readonly SubscribeStart[]> {
    this.assertOpen();
    const subscription = this.add(channel);
    try {
      if (this.host.access.asksRead(channel)) {
        await this.host.access.askRead(this.identity, channel, this.id, 'subscribe');
        // The application was asked: the client may have left or unsubscribed meanwhile.
        this.subscriptions.assertStillSubscribed(subscription);
      }
      await this.host.attach(channel, this);
      this.subscriptions.assertStillSubscribed(subscription);
      const known = since ? null : this.host.positionOf(channel);
      const { position, gap, replay } = known
        ? { position: known, gap: null, replay: NOTHING }
        : plan(subscription, since, await this.host.historyFor(channel, since));
      this.subscriptions.assertStillSubscribed(subscription);
      const starts = this.startAt(subscription, position, onStart);
      this.subscriptions.replay(subscription, gap, replay);
      return starts;
    } catch (error) {
      if (this.subscriptions.get(channel) === subscription) this.drop(subscription);
      throw error;
    }
  }

  /**
   * `subscribe` for one channel carried out at once, as most connections can: when the
   * application isn't asked, the request has no cursor to replay from, and this node already
   * follows the channel and knows its position. Then nothing waits, and no promise is made.
   * Null when it can't be, with nothing done (call subscribe); throws when refused.
   */
  subscribeNow(
    { channel, since }: SubscribeRequest,
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): readonly SubscribeStart[] | null {
    if (since || this.host.access.asksRead(channel)) return null;
    const position = this.host.positionNow(channel);
    if (!position) return null;
    this.assertOpen();
    const subscription = this.add(channel);
    try {
      if (!this.host.attachNow(channel, this)) {
        this.subscriptions.delete(subscription);
        return null;
      }
      const starts = this.startAt(subscription, position, onStart);
      // Nothing to replay; this ends the buffering of live messages.
      this.subscriptions.replay(subscription, null, NOTHING);
      return starts;
    } catch (error) {
      if (this.subscriptions.get(channel) === subscription) this.drop(subscription);
      throw error;
    }
  }

  /** One channel's subscription starts at `position`: its start, told to `onStart`. */
  private startAt(
    subscription: Subscription,
    position: StreamPosition,
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): readonly SubscribeStart[] {
    this.subscriptions.moveTo(subscription, position.epoch, position.offset);
    const cursor = this.cursor();
    const starts = [{ channel: subscription.channel, position, cursor }];
    onStart?.(starts, cursor);
    return starts;
  }

  /**
   * Carries out a client's command, with the client's rights: see carryOut. Undefined when
   * it is done at once; throws, or rejects, with the reason it was refused.
   */
  execute(command: SessionCommand, reply: (result: CommandResult) => void): Promise<void> | undefined {
    this.assertOpen();
    this.credentials.assertFresh();
    return carryOut(command, this, this.host, reply);
  }

  /** How many channels the session is on. */
  get channelCount(): number {
    return this.subscriptions.size;
  }

  /** The channels the session is on, in subscription order. */
  channels(): IterableIterator<string> {
    return this.subscriptions.channels();
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
    this.subscriptions.receive(subscription, batch);
  }

  /**
   * Goes on with new credentials of the same user: their expiry and their rights replace the
   * old ones, and each channel they no longer grant is dropped (the client is told). Throws
   * `forbidden` for another user's credentials, keeping the old ones. Returns the new expiry.
   */
  refresh(identity: Identity): number | null {
    this.assertOpen();
    this.credentials.assertFresh();
    this.credentials.replace(identity);
    for (const subscription of this.subscriptions.all()) {
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
    this.credentials.stop();
    for (const subscription of this.subscriptions.all()) this.drop(subscription);
    this.host.forget(this, this.ending);
  }

  private add(channel: string): Subscription {
    this.host.access.assertRead(this.identity, channel);
    return this.subscriptions.add(channel, this.host.maxChannelsPerSession);
  }

  private drop(subscription: Subscription): void {
    this.subscriptions.delete(subscription);
    this.host.detach(subscription.channel, this);
  }

  /** For Subscriptions: a replayed publication as the hub keeps it. */
  recentMessage(publication: Publication): OutboundMessage {
    return this.host.recent(publication);
  }

  /** For Subscriptions: true when nothing more may go out (see pastDeadline). */
  stopped(): boolean {
    return this.pastDeadline();
  }

  /**
   * Ends the session when its credentials are past their deadline, before anything more goes
   * out: the timer may run late on a busy node, and nothing published after it may reach the
   * client. True when the session is (now) closed.
   */
  private pastDeadline(): boolean {
    if (this.state === 'closed') return true;
    return this.credentials.endIfPast();
  }

  private assertOpen(): void {
    if (this.state === 'closed') throw new PushwireError('shutting_down', 'the connection is closed');
  }
}
