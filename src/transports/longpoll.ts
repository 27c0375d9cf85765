import type { ServerResponse } from 'node:http';
import type {
  CloseRequest,
  OutboundBatch,
  OutboundMessage,
  PollWaiter,
  Session,
  SessionSink,
} from '../core/index.ts';
import {
  composeCursor,
  cursorSegment,
  encodeCursor,
  type GapEvent,
  type StreamPosition,
} from '../protocol/index.ts';
import { messageJson } from './encodings.ts';
import { sendError, sendJson } from './http-util.ts';
import type { SubscribeParams, TransportContext } from './types.ts';

/** A message as a long-poll answer lists it on a one-channel connection, built once. */
const soloJson = (message: OutboundMessage) => messageJson(message, message.soloCursor(), false);

/** The answer to one-channel polls that get `messages`, each with its one-channel cursor. */
function soloAnswer(messages: readonly OutboundMessage[]): Buffer {
  const listed =
    messages.length === 1
      ? messages[0]!.encoded(soloJson)
      : messages.map((m) => m.encoded(soloJson)).join(',');
  return Buffer.from(`{"messages":[${listed}],"cursor":"${messages[messages.length - 1]!.soloCursor()}"}`);
}

/**
 * Answers are built once and shared as bytes: one message's by every poll it answers, a
 * batch's by every poll waiting on it, and a tail's (the messages after some offset, up to
 * the channel's latest) by every poll that comes back from the same offset, which under load
 * is most of them. Keyed by the tail's last message, they go when it goes.
 */
const oneMessageAnswer = (message: OutboundMessage) => soloAnswer([message]);
const batchAnswer = (batch: OutboundBatch) => soloAnswer(batch.messages);
const tailAnswers = new WeakMap<OutboundMessage, Map<number, Buffer>>();

function answerFor(messages: readonly OutboundMessage[], batch: OutboundBatch | null): Buffer {
  if (messages.length === 1) return messages[0]!.encoded(oneMessageAnswer);
  if (batch) return batch.encoded(batchAnswer);
  const last = messages[messages.length - 1]!;
  let answers = tailAnswers.get(last);
  if (!answers) {
    answers = new Map();
    tailAnswers.set(last, answers);
  }
  let answer = answers.get(messages[0]!.offset);
  if (!answer) {
    answer = soloAnswer(messages);
    answers.set(messages[0]!.offset, answer);
  }
  return answer;
}

function reconnectJson(request: CloseRequest): string {
  return JSON.stringify({ reason: request.reason, delayMs: request.reconnectDelayMs });
}

/**
 * Long polling. Without a cursor it answers at once with the channels' current positions; with
 * one, it answers with whatever is past the cursor as soon as there is something, or empty at
 * the poll timeout (which must stay under every proxy's idle timeout on the path). A poll on
 * one channel is answered from the hub's memory when it can be; the rest are short sessions.
 */
export async function servePoll(
  context: TransportContext,
  res: ServerResponse,
  params: SubscribeParams,
): Promise<void> {
  const { hub } = context;
  if (!params.cursor) {
    try {
      const tops = await Promise.all(params.channels.map((channel) => hub.history(channel, { limit: 0 })));
      const positions = new Map<string, StreamPosition>(
        params.channels.map((channel, i) => [channel, tops[i]!.top]),
      );
      sendJson(res, 200, `{"messages":[],"cursor":"${encodeCursor(positions)}"}`, params.headers);
    } catch (error) {
      sendError(res, error, params.headers);
    }
    return;
  }
  if (params.channels.length === 1 && waitInMemory(context, res, params)) return;
  const poll = new HeldPoll(context, res, params.headers);
  let session: Session;
  try {
    session = hub.openSession({
      transport: 'longpoll',
      identity: params.identity,
      sink: poll,
      shortLived: true,
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
  poll.hold();
}

/**
 * The fast path of a one-channel poll, taken when the hub knows from memory what follows its
 * cursor: answer with it at once, or wait for the channel's next batch, without a session or
 * a history read. False when the hub can't tell: the caller takes the full path.
 */
function waitInMemory(context: TransportContext, res: ServerResponse, params: SubscribeParams): boolean {
  const channel = params.channels[0]!;
  const since = params.cursor?.get(channel);
  if (!since) return false;
  const tail = context.hub.tail(params.identity, channel, since);
  if (tail === null) return false;
  if (tail.length > 0) {
    sendJson(res, 200, answerFor(tail, null), params.headers);
    return true;
  }
  return new WaitingPoll(context, res, params.headers, channel, since).start();
}

/** A one-channel poll waiting in the hub for the channel's next messages. */
class WaitingPoll implements PollWaiter {
  readonly epoch: string;
  readonly offset: number;
  private timer: NodeJS.Timeout | null = null;
  private done = false;

  constructor(
    private readonly context: TransportContext,
    private readonly res: ServerResponse,
    private readonly headers: Readonly<Record<string, string>>,
    private readonly channel: string,
    since: StreamPosition,
  ) {
    this.epoch = since.epoch;
    this.offset = since.offset;
  }

  start(): boolean {
    if (!this.context.hub.wait(this.channel, this)) return false;
    this.timer = setTimeout(this.timeout, this.context.pollTimeoutMs);
    this.res.on('close', this.gone);
    return true;
  }

  answer(messages: readonly OutboundMessage[], batch: OutboundBatch | null): void {
    this.send(answerFor(messages, batch));
  }

  end(request: CloseRequest | null): void {
    const reconnect = request ? `,"reconnect":${reconnectJson(request)}` : '';
    this.send(`{"messages":[],"cursor":"${this.cursor()}"${reconnect}}`);
  }

  private readonly timeout = (): void => {
    this.context.hub.unwait(this.channel, this);
    this.end(null);
  };

  private readonly gone = (): void => {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.context.hub.unwait(this.channel, this);
  };

  private send(body: string | Buffer): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    sendJson(this.res, 200, body, this.headers);
  }

  private cursor(): string {
    return composeCursor([cursorSegment(this.channel, this.epoch, this.offset)]);
  }
}

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
  ) {}

  /** Called once the subscription is in place: answer now if history had something. */
  hold(): void {
    if (this.done) return;
    if (this.messages.length > 0 || this.gaps.length > 0) {
      this.answer(null);
      return;
    }
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

  close(request: CloseRequest): void {
    this.answer(request);
  }

  readonly dispose = (): void => {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.session?.close();
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
    if (only && this.gaps.length === 0 && !reconnect && only.cursor === only.message.soloCursor()) {
      return only.message.encoded(oneMessageAnswer);
    }
    const messages = this.messages
      .map(({ message, cursor }) => messageJson(message, cursor, false))
      .join(',');
    // Gaps come first, as they happened first; the top-level cursor ends the object.
    let body = this.gaps.length > 0 ? `{"gaps":${JSON.stringify(this.gaps)},` : '{';
    body += `"messages":[${messages}],"cursor":"${cursor}"`;
    if (reconnect) {
      body += `,"reconnect":${reconnectJson(reconnect)}`;
    }
    return `${body}}`;
  }
}
