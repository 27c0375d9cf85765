import type { ServerResponse } from 'node:http';
import type {
  ChannelWatcher,
  CloseRequest,
  Hold,
  Hub,
  OutboundBatch,
  OutboundMessage,
  Session,
  SessionSink,
} from '../core/index.ts';
import {
  composeCursor,
  cursorSegment,
  encodeCursor,
  type GapEvent,
  PushwireError,
  type StreamPosition,
} from '../protocol/index.ts';
import { messageJson } from './encodings.ts';
import { refuseRequest, sendError, sendJson } from './http-util.ts';
import type { SubscribeParams, Transport, TransportContext } from './types.ts';

const ANSWER_START = Buffer.from('{"messages":[');
const COMMA = Buffer.from(',');

/**
 * How a one-channel poll's answer lists its messages: each with its cursor, as every transport
 * sends messages (the default), or without (`?cursors=0`, how the SDK polls), the answer's
 * cursor after them being where the client stands after the last. Under load a poll is
 * answered with dozens of messages, and with small ones their cursors are a large share of
 * its bytes.
 *
 * A form's answers are built once and shared as bytes: one message's by every poll it
 * answers, a batch's by every poll waiting on it, and a tail's (the messages after some
 * offset, up to the channel's latest) by every poll that comes back from the same offset,
 * which under load is most of them. Tails are keyed by their last message; once a later
 * message ends the tails polls ask for, those ending earlier are dropped: polls come back for
 * the latest, and each is the size of a whole answer, which would otherwise be held until its
 * last message leaves the channel's memory.
 */
class AnswerForm {
  /** A message as this form lists it on a one-channel poll, built once per message. */
  readonly json: (message: OutboundMessage) => string;
  /** The same as bytes, built from the text without keeping it (only session polls list text). */
  private readonly bytes: (message: OutboundMessage) => Buffer;
  private readonly oneMessage: (message: OutboundMessage) => Buffer;
  private readonly wholeBatch: (batch: OutboundBatch) => Buffer;
  private readonly tails = new WeakMap<OutboundMessage, Map<number, Buffer>>();

  constructor(readonly withCursors: boolean) {
    this.json = withCursors
      ? (message) => messageJson(message, message.soloCursor(), false)
      : (message) => `{${message.fields}}`;
    this.bytes = (message) => Buffer.from(this.json(message));
    this.oneMessage = (message) => this.build([message]);
    this.wholeBatch = (batch) => this.build(batch.messages);
  }

  /** The answer listing `messages` (all of `batch`, when given) with the channel's cursor after them. */
  answer(messages: readonly OutboundMessage[], batch: OutboundBatch | null): Buffer {
    if (messages.length === 1) return messages[0]!.encoded(this.oneMessage);
    if (batch) return batch.encoded(this.wholeBatch);
    const last = messages[messages.length - 1]!;
    let answers = this.tails.get(last);
    if (!answers) {
      answers = new Map();
      this.tails.set(last, answers);
      for (let i = 0; i < messages.length - 1; i++) this.tails.delete(messages[i]!);
    }
    let answer = answers.get(messages[0]!.offset);
    if (!answer) {
      answer = this.build(messages);
      answers.set(messages[0]!.offset, answer);
    }
    return answer;
  }

  /** `message` as a poll through a session lists it, `cursor` being the connection's after it. */
  listed(message: OutboundMessage, cursor: string): string {
    return !this.withCursors || cursor === message.soloCursor()
      ? message.encoded(this.json)
      : messageJson(message, cursor, false);
  }

  /** One copy of the messages' shared bytes, not a joined string flattened and encoded again. */
  private build(messages: readonly OutboundMessage[]): Buffer {
    const last = messages[messages.length - 1]!;
    const end = Buffer.from(`],"cursor":"${last.soloCursor()}"}`);
    const parts: Buffer[] = [ANSWER_START];
    let length = ANSWER_START.length + end.length + messages.length - 1;
    for (let i = 0; i < messages.length; i++) {
      const bytes = messages[i]!.encoded(this.bytes);
      if (i > 0) parts.push(COMMA);
      parts.push(bytes);
      length += bytes.length;
    }
    parts.push(end);
    return Buffer.concat(parts, length);
  }
}

const WITH_CURSORS = new AnswerForm(true);
const WITHOUT_CURSORS = new AnswerForm(false);

function formOf(params: SubscribeParams): AnswerForm {
  return params.messageCursors ? WITH_CURSORS : WITHOUT_CURSORS;
}

/**
 * What follows `offset` within a one-epoch batch, or null when the batch has a hole there or
 * spans epochs. With paced fan-outs many polls wait mid-batch at the same offset: worked out
 * once per offset and batch, not once per poll.
 */
const followingByBatch = new WeakMap<OutboundBatch, Map<number, readonly OutboundMessage[] | null>>();

function following(batch: OutboundBatch, offset: number): readonly OutboundMessage[] | null {
  let known = followingByBatch.get(batch);
  if (!known) {
    known = new Map();
    followingByBatch.set(batch, known);
  }
  let after = known.get(offset);
  if (after === undefined) {
    const epoch = batch.messages[0]!.epoch;
    const list = batch.messages.filter((message) => message.offset > offset);
    const whole =
      batch.messages.every((message) => message.epoch === epoch) &&
      list.every((message, i) => message.offset === offset + 1 + i);
    after = whole ? list : null;
    known.set(offset, after);
  }
  return after;
}

/** A poll the server ends for another reason than a drain is answered with that error (401 disconnected). */
function ended(request: CloseRequest): PushwireError {
  return new PushwireError(request.code, request.reason);
}

const EXPIRED: CloseRequest = {
  code: 'token_expired',
  reason: 'the token has expired: reconnect with a new token',
  reconnectDelayMs: 0,
};

function reconnectJson(request: CloseRequest): string {
  return JSON.stringify({ reason: request.reason, delayMs: request.reconnectDelayMs });
}

/** No messages, and the one-channel cursor of `position` (with a drain's `reconnect`). */
function emptyAnswer(channel: string, position: StreamPosition, drain: CloseRequest | null = null): string {
  const reconnect = drain ? `,"reconnect":${reconnectJson(drain)}` : '';
  const cursor = composeCursor([cursorSegment(channel, position.epoch, position.offset)]);
  return `{"messages":[],"cursor":"${cursor}"${reconnect}}`;
}

/** A poll the transport holds open (for the connection count and the drain). */
type Pending = object;

/**
 * Long polling at /poll. Without a cursor it answers at once with the channels' current
 * positions; with one, with whatever is past the cursor as soon as there is something, or
 * empty at the poll timeout (which must stay under every proxy's idle timeout on the path);
 * with `wait=0`, with whatever is past it at once, even nothing.
 * A poll on one channel is answered from the hub's memory when it can be (or waits there for
 * the channel's next batch); the rest are short sessions, which read history and report gaps.
 */
export function longPollTransport(context: TransportContext): Transport {
  const pending = new Set<Pending>();
  const lingering = new Lingering(context.hub, context.pollLingerMs);
  return {
    name: 'longpoll',
    path: '/poll',
    opens: 'request',
    cursorHeader: null,
    open(wire, params) {
      if (wire.kind !== 'response') return;
      const { res } = wire;
      // Most polls are answered (or wait) from memory: no promise nor closure for those.
      if (params.cursor && params.channels.length === 1) {
        try {
          if (answerFromMemory(context, res, params, pending, lingering)) return;
        } catch (error) {
          pollFailed(context, res, params, error);
          return;
        }
      }
      servePoll(context, res, params, pending, lingering).catch((error: unknown) =>
        pollFailed(context, res, params, error),
      );
    },
    refuse: refuseRequest,
    connectionCount: () => pending.size,
    close: () => lingering.close(),
  };
}

function pollFailed(
  context: TransportContext,
  res: ServerResponse,
  params: SubscribeParams,
  error: unknown,
): void {
  context.report('poll', error);
  sendError(res, error, params.headers);
}

async function servePoll(
  context: TransportContext,
  res: ServerResponse,
  params: SubscribeParams,
  pending: Set<Pending>,
  lingering: Lingering,
): Promise<void> {
  const { hub } = context;
  if (!params.cursor) {
    try {
      const positions = await hub.positions(params.identity, params.channels);
      sendJson(res, 200, `{"messages":[],"cursor":"${encodeCursor(positions)}"}`, params.headers);
    } catch (error) {
      sendError(res, error, params.headers);
    }
    return;
  }
  // A one-channel poll memory could answer was answered before this (open).
  const poll = new HeldPoll(context, res, params.headers, formOf(params), pending, lingering);
  let session: Session;
  try {
    // A poll is one request, not a connection: no lifecycle events for it.
    session = hub.openSession({
      transport: 'longpoll',
      identity: params.identity,
      sink: poll,
      address: params.address,
      transient: true,
    });
  } catch (error) {
    sendError(res, error, params.headers);
    return;
  }
  poll.session = session;
  res.on('close', poll.dispose);
  try {
    const cursor = params.cursor;
    await session.subscribe(params.channels.map((channel) => ({ channel, since: cursor.get(channel) })));
  } catch (error) {
    poll.dispose();
    sendError(res, error, params.headers);
    return;
  }
  poll.hold(params.wait);
}

/**
 * The fast path of a one-channel poll, taken when the hub knows from memory what follows its
 * cursor: answer with it at once, or watch the channel for its next batch, without a session
 * or a history read. False when memory can't tell: the caller takes the full path.
 */
function answerFromMemory(
  context: TransportContext,
  res: ServerResponse,
  params: SubscribeParams,
  pending: Set<Pending>,
  lingering: Lingering,
): boolean {
  const channel = params.channels[0]!;
  const since = params.cursor?.get(channel);
  if (!since) return false;
  const tail = context.hub.read(params.identity, channel, since);
  if (tail === null) return false;
  // A poll answered from memory is as much a sign of life as one that waits: pollers that
  // are always behind never wait, and the channel must not be left under them.
  lingering.touch(channel);
  if (tail.length > 0) {
    sendJson(res, 200, formOf(params).answer(tail, null), params.headers);
    return true;
  }
  if (!params.wait) {
    sendJson(res, 200, emptyAnswer(channel, since), params.headers);
    return true;
  }
  const poll = new WaitingPoll(
    context,
    res,
    params.headers,
    formOf(params),
    channel,
    since,
    pending,
    lingering,
  );
  poll.userId = params.identity.userId;
  poll.deadline = context.hub.deadlineOf(params.identity);
  return poll.start();
}

/** A one-channel poll watching the channel in the hub for its next messages. */
class WaitingPoll implements ChannelWatcher {
  userId: string | null = null;
  /** When the poll's token stops being good: it is answered 401 token_expired then. */
  deadline: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private done = false;

  constructor(
    private readonly context: TransportContext,
    private readonly res: ServerResponse,
    private readonly headers: Readonly<Record<string, string>>,
    private readonly form: AnswerForm,
    private readonly channel: string,
    private readonly position: StreamPosition,
    private readonly pending: Set<Pending>,
    private readonly lingering: Lingering,
  ) {}

  start(): boolean {
    if (!this.context.hub.watch(this.channel, this.position, this)) return false;
    this.pending.add(this);
    const untilExpiry = this.deadline === null ? Number.POSITIVE_INFINITY : this.deadline - Date.now();
    this.timer = setTimeout(this.timeout, Math.max(0, Math.min(this.context.pollTimeoutMs, untilExpiry)));
    this.res.on('close', this.gone);
    return true;
  }

  next(batch: OutboundBatch): number | null {
    if (this.expired()) {
      this.end(EXPIRED);
      return 0;
    }
    const { epoch, offset } = this.position;
    const first = batch.messages[0]!;
    if (batch.contiguous && first.epoch === epoch && first.offset === offset + 1) {
      this.send(this.form.answer(batch.messages, batch));
      return batch.messages.length;
    }
    // The poll came after part of this batch was accepted: it wants only what follows it.
    const after = first.epoch === epoch ? following(batch, offset) : null;
    if (after === null) {
      this.end(null); // a new epoch or a hole: the poll comes back and a session reports it
      return 0;
    }
    if (after.length === 0) return null; // all of it came before the poll: keep waiting
    this.send(this.form.answer(after, null));
    return after.length;
  }

  end(request: CloseRequest | null): void {
    if (request && request.code !== 'shutting_down') {
      if (this.done) return;
      this.finish();
      sendError(this.res, ended(request), this.headers);
      return;
    }
    this.send(emptyAnswer(this.channel, this.position, request));
  }

  private readonly timeout = (): void => {
    this.context.hub.unwatch(this.channel, this);
    this.end(this.expired() ? EXPIRED : null);
  };

  private expired(): boolean {
    return this.deadline !== null && Date.now() >= this.deadline;
  }

  private readonly gone = (): void => {
    if (this.done) return;
    this.finish();
    this.context.hub.unwatch(this.channel, this);
  };

  private send(body: string | Buffer): void {
    if (this.done) return;
    this.finish();
    sendJson(this.res, 200, body, this.headers);
  }

  private finish(): void {
    this.done = true;
    this.pending.delete(this);
    if (this.timer) clearTimeout(this.timer);
    this.lingering.touch(this.channel);
  }
}

/** A poll through a session: it answers with what history and the live stream bring. */
class HeldPoll implements SessionSink {
  session: Session | null = null;
  private readonly messages: { message: OutboundMessage; cursor: string }[] = [];
  private readonly gaps: GapEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private done = false;

  constructor(
    private readonly context: TransportContext,
    private readonly res: ServerResponse,
    private readonly headers: Readonly<Record<string, string>>,
    private readonly form: AnswerForm,
    private readonly pending: Set<Pending>,
    private readonly lingering: Lingering,
  ) {}

  /**
   * Called once the subscription is in place: answers now if history had something, or if
   * the poll said not to wait (`wait=0`); else holds it until the next message or the timeout.
   */
  hold(wait: boolean): void {
    if (this.done) return;
    if (!wait || this.messages.length > 0 || this.gaps.length > 0) {
      this.answer(null);
      return;
    }
    this.pending.add(this);
    this.timer = setTimeout(() => this.answer(null), this.context.pollTimeoutMs);
  }

  message(message: OutboundMessage, cursor: string): void {
    this.messages.push({ message, cursor });
    this.soon();
  }

  batch(batch: OutboundBatch): void {
    for (const message of batch.messages) this.messages.push({ message, cursor: message.soloCursor() });
    this.soon();
  }

  gap(event: GapEvent): void {
    this.gaps.push(event);
    this.soon();
  }

  /** A poll's session lives for one request and is never refreshed: nothing to tell. */
  dropped(): void {}

  close(request: CloseRequest): void {
    if (request.code === 'shutting_down') {
      this.answer(request);
      return;
    }
    if (this.done) return;
    this.dispose();
    sendError(this.res, ended(request), this.headers);
  }

  readonly dispose = (): void => {
    if (this.done) return;
    this.done = true;
    this.pending.delete(this);
    if (this.timer) clearTimeout(this.timer);
    const session = this.session;
    if (session) {
      // The client comes right back with its next poll: keep its channels in memory for it.
      for (const channel of session.channels()) this.lingering.touch(channel);
      session.close();
    }
  };

  /** Answers after this turn, so messages published together go out in one response. */
  private soon(): void {
    if (this.scheduled || !this.timer) return;
    this.scheduled = true;
    setImmediate(() => this.answer(null));
  }

  private answer(reconnect: CloseRequest | null): void {
    if (this.done) return;
    const cursor = this.session?.cursor() ?? '1';
    const body = this.body(cursor, reconnect);
    this.dispose();
    sendJson(this.res, 200, body, this.headers);
  }

  private body(cursor: string, reconnect: CloseRequest | null): string | Buffer {
    const only = this.messages.length === 1 ? this.messages[0]! : null;
    if (only && this.gaps.length === 0 && !reconnect && cursor === only.message.soloCursor()) {
      return this.form.answer([only.message], null);
    }
    const messages = this.messages.map(({ message, cursor }) => this.form.listed(message, cursor)).join(',');
    // Gaps come first, as they happened first; the top-level cursor ends the object.
    let body = this.gaps.length > 0 ? `{"gaps":${JSON.stringify(this.gaps)},` : '{';
    body += `"messages":[${messages}],"cursor":"${cursor}"`;
    if (reconnect) {
      body += `,"reconnect":${reconnectJson(reconnect)}`;
    }
    return `${body}}`;
  }
}

/**
 * Channels kept followed for long polls at most: each is state the server holds for no one
 * connected, so polls of ever new channel names must not grow it without bound.
 */
const MAX_LINGERING_CHANNELS = 10_000;

/**
 * The channels long polls come back to, held in the hub for `lingerMs` (at least nine tenths
 * of it) after their last poll: between two polls of a client nobody is on a channel, and its
 * position and recent messages must stay known for the next poll to be answered from memory.
 */
class Lingering {
  private readonly held = new Map<string, { hold: Hold; until: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly hub: Hub,
    private readonly lingerMs: number,
  ) {}

  touch(channel: string): void {
    if (this.lingerMs <= 0 || !this.hub.running) return;
    const now = Date.now();
    let entry = this.held.get(channel);
    // Touched within the last tenth of the linger already: a channel polled thousands of
    // times a second is not moved to the back of the map on every poll.
    if (entry && entry.until - now > this.lingerMs * 0.9) return;
    if (entry) {
      // Most recently polled last: past the cap, the front is let go first.
      this.held.delete(channel);
    } else {
      if (this.held.size >= MAX_LINGERING_CHANNELS) this.letGoOldest();
      entry = { hold: this.hub.hold(channel), until: 0 };
    }
    this.held.set(channel, entry);
    entry.until = now + this.lingerMs;
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), Math.max(100, this.lingerMs / 4));
      this.timer.unref();
    }
  }

  /** The channel polled longest ago stops lingering: its next poll takes the full path. */
  private letGoOldest(): void {
    for (const [channel, entry] of this.held) {
      this.held.delete(channel);
      entry.hold.release();
      return;
    }
  }

  close(): void {
    for (const { hold } of this.held.values()) hold.release();
    this.held.clear();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sweep(): void {
    const now = Date.now();
    for (const [channel, entry] of this.held) {
      if (entry.until > now) continue;
      this.held.delete(channel);
      entry.hold.release();
    }
    if (this.held.size === 0) this.close();
  }
}
