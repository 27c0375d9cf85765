import type { ServerResponse } from 'node:http';
import type { CloseRequest, OutboundBatch, OutboundMessage, Session, SessionSink } from '../core/index.ts';
import { encodeCursor, type GapEvent, type StreamPosition } from '../protocol/index.ts';
import { messageJson } from './encodings.ts';
import { sendError, sendJson } from './http-util.ts';
import type { SubscribeParams, TransportContext } from './types.ts';

/**
 * The whole answer to a poll that got one message of a one-channel connection, built once. A
 * string, not a Buffer: Node writes a string body together with the head in one syscall.
 */
const soloAnswer = (message: OutboundMessage) =>
  `{"messages":[${messageJson(message, message.soloCursor(), false)}],"cursor":"${message.soloCursor()}"}`;

/**
 * Long polling: each request is a short session. Without a cursor it answers at once with the
 * channels' current positions; with one, it answers with whatever is past the cursor as soon
 * as there is something, or empty at the poll timeout (which must stay under every proxy's
 * idle timeout on the path).
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
  const poll = new HeldPoll(context, res, params.headers);
  let session: Session;
  try {
    session = hub.openSession({ transport: 'longpoll', identity: params.identity, sink: poll });
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

  private body(cursor: string, reconnect: CloseRequest | null): string {
    const only = this.messages.length === 1 ? this.messages[0]! : null;
    if (only && this.gaps.length === 0 && !reconnect && only.cursor === only.message.soloCursor()) {
      return only.message.encoded(soloAnswer);
    }
    const messages = this.messages
      .map(({ message, cursor }) => messageJson(message, cursor, false))
      .join(',');
    // Gaps come first, as they happened first; the top-level cursor ends the object.
    let body = this.gaps.length > 0 ? `{"gaps":${JSON.stringify(this.gaps)},` : '{';
    body += `"messages":[${messages}],"cursor":"${cursor}"`;
    if (reconnect) {
      body += `,"reconnect":${JSON.stringify({ reason: reconnect.reason, delayMs: reconnect.reconnectDelayMs })}`;
    }
    return `${body}}`;
  }
}
