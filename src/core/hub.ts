import { randomBytes } from 'node:crypto';
import type { Broker, HistoryResult, PresenceInfo } from '../brokers/types.ts';
import { type Publication, PushwireError, type StreamPosition } from '../protocol/index.ts';
import { OutboundBatch, OutboundMessage } from './outbound.ts';
import { RateLimiter } from './rate-limit.ts';
import { Session, type SessionHost } from './session.ts';
import type { ChannelOptions, CloseRequest, Identity, OpenSessionOptions, PollWaiter } from './types.ts';

export interface HubOptions {
  readonly broker: Broker;
  /** Options of a channel, from its namespace. Called often: make it cheap. */
  readonly channelOptions: (channel: string) => ChannelOptions;
  readonly maxChannelsPerSession: number;
  /** Presence entries expire after this long unless refreshed (every third of it). */
  readonly presenceTtlMs?: number;
  /** Client publishes per second per client (bursts of twice that); null: no limit. */
  readonly clientPublishRate?: number | null;
  /** Where failures that must not reach a caller go (a flaky backplane, a broken sink). */
  readonly report?: (stage: string, error: unknown) => void;
  /**
   * A channel long polls come back to stays subscribed this long (ms) after its last member
   * left: between two polls of a client nobody is on it, and its position must stay known.
   */
  readonly pollLingerMs?: number;
}

interface ChannelEntry {
  readonly channel: string;
  readonly sessions: Set<Session>;
  /** Settles once the broker delivers this channel's publications to this node. */
  readonly subscribed: Promise<void>;
  /** The last publication fanned out: the next one must follow it. */
  position: StreamPosition | null;
  /** Publications held back while history fills a hole; null when not recovering. */
  pending: Publication[] | null;
  /** Recently fanned-out messages, reused (with their encodings) by replays. */
  readonly recent: Map<number, OutboundMessage>;
  /** How many recent messages it keeps: its history size, within bounds. */
  readonly recentLimit: number;
  /** Accepted this turn, fanned out together at the end of it. */
  outbox: OutboundMessage[];
  /** Long polls waiting for the channel's next message, each at the channel's position. */
  polls: Set<PollWaiter>;
  /** Set once a long poll waited here: the entry then outlives its last member for a while. */
  polled: boolean;
  /** When a lingering entry (no members) is dropped; 0 while it has members. */
  lingerUntil: number;
}

export interface HubStats {
  published: number;
  /** Messages handed to sessions (one per subscriber per message). */
  delivered: number;
  gapsRecovered: number;
}

type HubState = 'running' | 'draining' | 'closed';

/**
 * Each channel keeps its last messages (as many as its history, within these bounds) for
 * replays and for long polls that come back behind: under load a poll's client comes back
 * seconds behind, and everything it missed should still be in memory.
 */
const RECENT_MIN = 128;
const RECENT_MAX = 1000;
const DEFAULT_PRESENCE_TTL_MS = 60_000;
const DEFAULT_POLL_LINGER_MS = 10_000;
const NOTHING_NEW: readonly OutboundMessage[] = Object.freeze([]);
/**
 * A fan-out that took longer than this is followed by a rest of FLUSH_REST_SHARE of the time it
 * took before the next one. Writing to every connection is one long synchronous run, and Node's
 * listener accepts one connection per event-loop turn: with a fan-out in every turn, a server
 * with thousands of connections accepted a few dozen a second, and a reconnect storm took
 * minutes. Resting keeps time for accepting, reading and answering; the messages of the rest go
 * out together in the next fan-out, in one write per connection.
 */
const FLUSH_PACING_MIN_MS = 2;
/**
 * A third of the time for everything else was enough for WebSocket, SSE and stream storms
 * (10,000 clients were back as fast with a rest half as long as the fan-out as with one as
 * long), and a shorter rest is less latency: p99 at 5,000 subscribers went from 1.4-1.5x the
 * raw ceiling's to 0.8-1.05x, at 0.65-0.7x its CPU per delivery instead of 0.5x. Long-poll
 * storms may want the longer rest (each answered poll brings a request back); too few runs
 * to tell yet.
 */
const FLUSH_REST_SHARE = 0.5;

/**
 * The node's hub: the one place that knows which local sessions are on which channel. It
 * subscribes this node to a channel at the broker while (and only while) a local session is
 * on it, turns each publication into one OutboundMessage and fans it out to every session,
 * whatever their transports. It keeps each channel's stream continuous: a publication that
 * skips offsets makes it read the hole from history before going on.
 */
export class Hub implements SessionHost {
  readonly nodeId = randomBytes(4).toString('hex');
  readonly maxChannelsPerSession: number;
  readonly stats: HubStats = { published: 0, delivered: 0, gapsRecovered: 0 };
  private readonly broker: Broker;
  private readonly channelOptions: (channel: string) => ChannelOptions;
  private readonly report: (stage: string, error: unknown) => void;
  private readonly presenceTtlMs: number;
  private readonly clientPublishLimit: RateLimiter | null;
  private readonly channels = new Map<string, ChannelEntry>();
  private readonly sessions = new Set<Session>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** Channels with messages in their outbox, fanned out together (see scheduleFlush). */
  private readonly dirty = new Set<ChannelEntry>();
  private flushScheduled = false;
  /** performance.now() before which the next fan-out waits (see FLUSH_PACING_MIN_MS). */
  private restUntil = 0;
  private presenceTimer: NodeJS.Timeout | null = null;
  private readonly pollLingerMs: number;
  /** Entries without members kept for long polls that come back. */
  private readonly lingering = new Set<ChannelEntry>();
  private lingerTimer: NodeJS.Timeout | null = null;
  private waitingPolls = 0;
  private readonly shortLived = new WeakSet<Session>();
  private nextSessionId = 0;
  private state: HubState = 'running';

  constructor(options: HubOptions) {
    this.broker = options.broker;
    this.channelOptions = options.channelOptions;
    this.maxChannelsPerSession = options.maxChannelsPerSession;
    this.presenceTtlMs = options.presenceTtlMs ?? DEFAULT_PRESENCE_TTL_MS;
    this.report = options.report ?? (() => {});
    const rate = options.clientPublishRate ?? null;
    this.clientPublishLimit = rate === null ? null : new RateLimiter(rate, rate * 2);
    this.pollLingerMs = options.pollLingerMs ?? DEFAULT_POLL_LINGER_MS;
  }

  async start(): Promise<void> {
    await this.broker.start({
      publication: (publication) => this.accept(publication),
      recovered: () => this.recoverAll(),
    });
    this.presenceTimer = setInterval(() => this.refreshPresence(), Math.max(1000, this.presenceTtlMs / 3));
    this.presenceTimer.unref();
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

  /** Open sessions per transport name; long polls waiting without a session count as 'longpoll'. */
  sessionsByTransport(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const session of this.sessions)
      counts.set(session.transport, (counts.get(session.transport) ?? 0) + 1);
    if (this.waitingPolls > 0) counts.set('longpoll', (counts.get('longpoll') ?? 0) + this.waitingPolls);
    return counts;
  }

  openSession({ transport, identity, sink, shortLived }: OpenSessionOptions): Session {
    if (this.state !== 'running') throw new PushwireError('shutting_down');
    const session = new Session(`${this.nodeId}-${++this.nextSessionId}`, transport, identity, sink, this);
    this.sessions.add(session);
    if (shortLived) this.shortLived.add(session);
    return session;
  }

  /** Publishes as the server (API key holders, server-side code): no rights to check. */
  publish(channel: string, data: string): Promise<Publication> {
    if (this.state === 'closed') return Promise.reject(new PushwireError('shutting_down'));
    const options = this.channelOptions(channel);
    const publishing = this.broker
      .publish(channel, data, { historySize: options.historySize, historyTtlMs: options.historyTtlMs })
      .then(
        (publication) => {
          this.stats.published += 1;
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

  /**
   * Publishes for a client: only where its namespace or its token allows, and at most at the
   * client publish rate for `clientKey` (a connection, or the client an HTTP request names).
   */
  publishFrom(identity: Identity, clientKey: string, channel: string, data: string): Promise<Publication> {
    if (!this.channelOptions(channel).clientPublish && !identity.canPublish(channel)) {
      return Promise.reject(new PushwireError('forbidden', `clients may not publish on "${channel}"`));
    }
    if (this.clientPublishLimit && !this.clientPublishLimit.take(clientKey)) {
      return Promise.reject(new PushwireError('rate_limited', 'too many publishes: slow down'));
    }
    return this.publish(channel, data);
  }

  async history(channel: string, query: { since?: StreamPosition; limit?: number }): Promise<HistoryResult> {
    try {
      return await this.broker.history(channel, query);
    } catch (error) {
      throw brokerError(error);
    }
  }

  async presence(channel: string): Promise<PresenceInfo[]> {
    try {
      return await this.broker.presence.list(channel);
    } catch (error) {
      throw brokerError(error);
    }
  }

  /**
   * Stops taking sessions and ends every open one with `request` (transports tell their
   * clients to reconnect), spreading the reconnect hints over `spreadMs` so that clients
   * don't come back as one herd; then waits for publishes already accepted.
   */
  async drain(request: Omit<CloseRequest, 'reconnectDelayMs'>, spreadMs: number): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'draining';
    for (const session of [...this.sessions]) {
      session.end({ ...request, reconnectDelayMs: Math.round(Math.random() * spreadMs) });
    }
    this.endPolls((poll) => poll.end({ ...request, reconnectDelayMs: Math.round(Math.random() * spreadMs) }));
    await Promise.allSettled([...this.inflight]);
  }

  /** Ends every session without a word and closes the broker. Safe in any state. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    if (this.lingerTimer) clearInterval(this.lingerTimer);
    for (const session of [...this.sessions]) session.close();
    this.endPolls((poll) => poll.end(null));
    await Promise.allSettled([...this.inflight]);
    await this.broker.close();
  }

  // Long polls: the fast path that needs neither a session nor the broker.

  /**
   * What follows `since` on `channel`, from this node's memory: the messages after it (none
   * when `since` is the channel's latest position). Null when memory can't tell for sure: the
   * node isn't on the channel or doesn't know its position yet, `since` is older than the
   * channel's history or the recent messages, ahead of them or of another epoch, the channel
   * is mending a hole, or it needs a session (presence, or a channel `identity` may not
   * read). The caller then takes the full path, a session, which reads history and reports
   * gaps and errors.
   */
  tail(identity: Identity, channel: string, since: StreamPosition): readonly OutboundMessage[] | null {
    if (this.state !== 'running') return null;
    const entry = this.channels.get(channel);
    const position = entry?.position;
    if (!entry || !position || entry.pending || position.epoch !== since.epoch) return null;
    if (since.offset > position.offset || since.offset < 0) return null;
    const options = this.channelOptions(channel);
    if (!identity.canSubscribe(channel) || options.presence) return null;
    // A poll answered from memory is as much a sign of life as one that waits: pollers that
    // are always behind never wait, and the channel must not be left under them.
    if (entry.lingerUntil !== 0) entry.lingerUntil = Date.now() + this.pollLingerMs;
    if (since.offset === position.offset) return NOTHING_NEW;
    // Past the channel's history (by count or age) a session reports a gap, as every
    // transport would: memory must not answer for longer than history does.
    if (position.offset - since.offset > options.historySize) return null;
    const messages: OutboundMessage[] = [];
    for (let offset = since.offset + 1; offset <= position.offset; offset++) {
      const message = entry.recent.get(offset);
      if (message?.epoch !== since.epoch) return null;
      messages.push(message);
    }
    if (options.historyTtlMs !== null && messages[0]!.time < Date.now() - options.historyTtlMs) return null;
    return messages;
  }

  /**
   * Holds a long poll until the channel's next messages, which it gets with `answer`. Only
   * for a poll at the channel's position (`tail` gave nothing new this turn); false otherwise.
   */
  wait(channel: string, poll: PollWaiter): boolean {
    const entry = this.channels.get(channel);
    const position = entry?.position;
    if (!entry || !position || position.epoch !== poll.epoch || position.offset !== poll.offset) return false;
    entry.polls.add(poll);
    entry.polled = true;
    this.waitingPolls += 1;
    this.keep(entry);
    return true;
  }

  /** The poll stops waiting (its timeout, or its client left). */
  unwait(channel: string, poll: PollWaiter): void {
    const entry = this.channels.get(channel);
    if (!entry?.polls.delete(poll)) return;
    this.waitingPolls -= 1;
    this.leaveIfEmpty(entry);
  }

  // SessionHost: what sessions call.

  async attach(channel: string, session: Session): Promise<void> {
    let entry = this.channels.get(channel);
    if (!entry) {
      const subscribed = this.broker.subscribe(channel);
      entry = {
        channel,
        sessions: new Set(),
        subscribed,
        position: null,
        pending: null,
        recent: new Map(),
        recentLimit: Math.min(RECENT_MAX, Math.max(RECENT_MIN, this.channelOptions(channel).historySize)),
        outbox: [],
        polls: new Set(),
        polled: false,
        lingerUntil: 0,
      };
      this.channels.set(channel, entry);
      const created = entry;
      subscribed.catch(() => {
        if (this.channels.get(channel) === created) this.channels.delete(channel);
      });
    }
    entry.sessions.add(session);
    this.keep(entry);
    try {
      await entry.subscribed;
    } catch (error) {
      entry.sessions.delete(session);
      throw brokerError(error);
    }
    if (this.channelOptions(channel).presence) this.joinPresence(channel, session);
  }

  detach(channel: string, session: Session): void {
    const entry = this.channels.get(channel);
    if (!entry?.sessions.delete(session)) return;
    if (this.shortLived.has(session)) entry.polled = true;
    if (this.channelOptions(channel).presence) {
      this.broker.presence.leave(channel, session.id).catch((error) => this.report('presence', error));
    }
    this.leaveIfEmpty(entry);
  }

  historyFor(channel: string, since: StreamPosition | undefined): Promise<HistoryResult> {
    return this.history(channel, since ? { since } : { limit: 0 });
  }

  recent(publication: Publication): OutboundMessage {
    const known = this.channels.get(publication.channel)?.recent.get(publication.offset);
    return known?.epoch === publication.epoch ? known : new OutboundMessage(publication);
  }

  forget(session: Session): void {
    this.sessions.delete(session);
  }

  // Fan-out.

  private accept(publication: Publication): void {
    const entry = this.channels.get(publication.channel);
    if (!entry) return;
    if (entry.pending) {
      entry.pending.push(publication);
      return;
    }
    const position = entry.position;
    if (position && publication.epoch === position.epoch) {
      if (publication.offset <= position.offset) return; // seen already (recovery overlap)
      if (publication.offset > position.offset + 1) {
        this.recover(entry, [publication]);
        return;
      }
    }
    this.fanOut(entry, publication);
  }

  /**
   * Takes the publication as the channel's next and queues it. Publications of one turn go
   * out together after it (as the raw-socket servers do), or after the rest that follows a
   * slow fan-out: under load each connection then gets one write per fan-out however many
   * messages arrived, and the publisher's answer is not held up by the fan-out.
   */
  private fanOut(entry: ChannelEntry, publication: Publication): void {
    const message = new OutboundMessage(publication);
    entry.position = { epoch: publication.epoch, offset: publication.offset };
    entry.recent.set(publication.offset, message);
    if (entry.recent.size > entry.recentLimit) entry.recent.delete(entry.recent.keys().next().value!);
    entry.outbox.push(message);
    this.dirty.add(entry);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const rest = this.restUntil - performance.now();
    if (rest >= 1) setTimeout(this.flush, rest);
    else setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const started = performance.now();
    for (const entry of this.dirty) {
      const batch = new OutboundBatch(entry.outbox);
      entry.outbox = [];
      for (const session of entry.sessions) {
        try {
          session.receive(batch);
        } catch (error) {
          // One broken connection must never stop the fan-out to the others.
          this.report('deliver', error);
          session.close();
        }
      }
      this.stats.delivered += entry.sessions.size * batch.messages.length;
      if (entry.polls.size > 0) this.answerPolls(entry, batch);
    }
    this.dirty.clear();
    // Transports that cork write on the next tick: this one comes after theirs.
    process.nextTick(this.rest, started);
  };

  private readonly rest = (flushStarted: number): void => {
    const ended = performance.now();
    const took = ended - flushStarted;
    this.restUntil = took >= FLUSH_PACING_MIN_MS ? ended + took * FLUSH_REST_SHARE : 0;
  };

  private answerPolls(entry: ChannelEntry, batch: OutboundBatch): void {
    const polls = entry.polls;
    entry.polls = new Set();
    const first = batch.messages[0]!;
    const oneEpoch = batch.messages.every((message) => message.epoch === first.epoch);
    // What follows an offset within the batch (null: a hole), once per offset polls wait at.
    const following = new Map<number, readonly OutboundMessage[] | null>();
    const follow = (offset: number): readonly OutboundMessage[] | null => {
      let after = following.get(offset);
      if (after === undefined) {
        const list = batch.messages.filter((message) => message.offset > offset);
        after = list.every((message, i) => message.offset === offset + 1 + i) ? list : null;
        following.set(offset, after);
      }
      return after;
    };
    for (const poll of polls) {
      this.waitingPolls -= 1;
      try {
        if (batch.contiguous && first.epoch === poll.epoch && first.offset === poll.offset + 1) {
          poll.answer(batch.messages, batch);
          this.stats.delivered += batch.messages.length;
          continue;
        }
        // The poll came after part of this batch was accepted: it wants only what follows it.
        const after = oneEpoch && first.epoch === poll.epoch ? follow(poll.offset) : null;
        if (after === null) {
          poll.end(null); // a new epoch or a hole: the poll comes back and a session reports it
        } else if (after.length === 0) {
          entry.polls.add(poll); // all of it came before the poll: keep waiting
          this.waitingPolls += 1;
        } else {
          poll.answer(after, null);
          this.stats.delivered += after.length;
        }
      } catch (error) {
        this.report('deliver', error);
      }
    }
    this.leaveIfEmpty(entry);
  }

  /** The entry has a member again: it no longer lingers. */
  private keep(entry: ChannelEntry): void {
    if (entry.lingerUntil === 0) return;
    entry.lingerUntil = 0;
    this.lingering.delete(entry);
  }

  /**
   * Leaves the channel once nobody is on it; one long polls come back to lingers first,
   * keeping its position and recent messages for the polls' next round.
   */
  private leaveIfEmpty(entry: ChannelEntry): void {
    if (entry.sessions.size > 0 || entry.polls.size > 0 || this.channels.get(entry.channel) !== entry) return;
    if (entry.polled && this.pollLingerMs > 0 && this.state === 'running') {
      entry.lingerUntil = Date.now() + this.pollLingerMs;
      this.lingering.add(entry);
      this.lingerTimer ??= setInterval(() => this.dropLingering(), Math.max(100, this.pollLingerMs / 4));
      this.lingerTimer.unref();
      return;
    }
    this.channels.delete(entry.channel);
    this.broker.unsubscribe(entry.channel).catch((error) => this.report('unsubscribe', error));
  }

  private dropLingering(): void {
    const now = Date.now();
    for (const entry of this.lingering) {
      if (entry.lingerUntil > now) continue;
      this.lingering.delete(entry);
      entry.lingerUntil = 0;
      entry.polled = false;
      this.leaveIfEmpty(entry);
    }
    if (this.lingering.size === 0 && this.lingerTimer) {
      clearInterval(this.lingerTimer);
      this.lingerTimer = null;
    }
  }

  private endPolls(end: (poll: PollWaiter) => void): void {
    for (const entry of this.channels.values()) {
      const polls = entry.polls;
      entry.polls = new Set();
      this.waitingPolls -= polls.size;
      for (const poll of polls) end(poll);
    }
  }

  /** Reads the hole after the channel's position from history, holding live publications. */
  private recover(entry: ChannelEntry, held: Publication[]): void {
    const since = entry.position;
    if (!since || entry.pending) {
      entry.pending?.push(...held);
      return;
    }
    entry.pending = held;
    this.broker
      .history(entry.channel, { since })
      .then(
        (history) => {
          this.stats.gapsRecovered += 1;
          return history.publications;
        },
        (error: unknown) => {
          this.report('recover', error);
          return [] as readonly Publication[];
        },
      )
      .then((filled) => {
        const pending = entry.pending ?? [];
        entry.pending = null;
        if (this.channels.get(entry.channel) !== entry) return;
        // What history couldn't fill stays a hole: sessions report it as a gap.
        for (const publication of [...filled, ...pending]) {
          const position = entry.position;
          if (position && publication.epoch === position.epoch && publication.offset <= position.offset)
            continue;
          this.fanOut(entry, publication);
        }
      });
  }

  private recoverAll(): void {
    for (const entry of this.channels.values()) this.recover(entry, []);
  }

  private joinPresence(channel: string, session: Session): void {
    const info: PresenceInfo = {
      clientId: session.id,
      userId: session.identity.userId,
      connectedAt: session.connectedAt,
    };
    this.broker.presence
      .join(channel, info, this.presenceTtlMs)
      .catch((error) => this.report('presence', error));
  }

  private refreshPresence(): void {
    for (const entry of this.channels.values()) {
      if (!this.channelOptions(entry.channel).presence) continue;
      for (const session of entry.sessions) this.joinPresence(entry.channel, session);
    }
  }
}

function brokerError(error: unknown): PushwireError {
  if (error instanceof PushwireError) return error;
  const detail = error instanceof Error ? `: ${error.message}` : '';
  return new PushwireError('broker_unavailable', `the broker is unavailable${detail}`);
}
