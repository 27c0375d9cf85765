import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import {
  type CloseRequest,
  concatEncoded,
  type OutboundBatch,
  type OutboundMessage,
  type Session,
  type SessionSink,
  TokenBucket,
} from '../core/index.ts';
import {
  asPushwireError,
  type ClientCommand,
  type CommandId,
  closeCodeOf,
  type ErrorCode,
  encodeErrorFrame,
  encodeReplyFrame,
  type GapEvent,
  parseClientCommand,
} from '../protocol/index.ts';
import {
  ConnectionWriter,
  type PushFormat,
  type SentCounter,
  type WriterOwner,
} from './connection-writer.ts';
import { framed, messageJson, replyJson, webSocketTextFrame } from './encodings.ts';
import { refreshSession } from './token-refresh.ts';
import type { SubscribeParams, Transport, TransportContext } from './types.ts';
import { webSocketHandshakeProblem } from './websocket-handshake.ts';

const encode = (message: OutboundMessage, cursor: string) => messageJson(message, cursor, true);
/** The frame of a message for one-channel connections: built once, written to every socket. */
const sharedFrame = (message: OutboundMessage) => webSocketTextFrame(encode(message, message.soloCursor()));
const sharedBatch = (batch: OutboundBatch) => concatEncoded(batch, sharedFrame);
const frameOf = (event: object) => webSocketTextFrame(JSON.stringify(event));

/**
 * Every event as a whole WebSocket text frame, written to the socket under `ws` as one
 * buffer: a message's frame is built once and shared by every one-channel connection.
 */
const WEBSOCKET_FORMAT: PushFormat = {
  transport: 'websocket',
  preamble: '',
  ping: webSocketTextFrame('{"op":"ping"}'),
  connected: frameOf,
  message: (message, cursor) => {
    const frame = framed(message, cursor, encode, sharedFrame);
    return typeof frame === 'string' ? webSocketTextFrame(frame) : frame;
  },
  batch: (batch) => batch.encoded(sharedBatch),
  gap: frameOf,
  reconnect: frameOf,
  error: frameOf,
};

/** A peer that doesn't answer our close frame is cut after this long. */
const CLOSE_GRACE_MS = 1000;
/**
 * Frames one connection has handled per turn of the event loop; the rest wait for the next
 * turn, so a connection that sends thousands of frames at once can't hold up the others.
 */
const FRAMES_PER_TURN = 32;
/** This many frames waiting: stop reading the connection's socket until they are handled. */
const INBOX_PAUSE_AT = 256;
/**
 * The pong every client answers each heartbeat with, byte for byte: known without decoding or
 * parsing it, the most frequent frame of an idle connection allocates nothing past `ws`.
 */
const PONG = Buffer.from('{"op":"pong"}');
/** The empty inbox of every connection with nothing waiting: never written to. */
const NO_FRAMES: [RawData, boolean][] = [];

/**
 * WebSocket at /ws: JSON commands in, carried out by the session; messages, replies and
 * pings out. Refused connections are upgraded anyway, told why and closed with the error's
 * close code, because browsers never show a script the status of a refused upgrade.
 */
export function webSocketTransport(context: TransportContext): Transport {
  // The frame limit leaves room for the command envelope around the data.
  const wss = new WebSocketServer<typeof ConnectionSocket>({
    WebSocket: ConnectionSocket,
    // The transport keeps its own set of open connections: a second one in `ws` is a table
    // entry per connection that nothing reads.
    clientTracking: false,
    noServer: true,
    perMessageDeflate: false,
    maxPayload: context.maxFrameBytes,
  });
  const open = new Set<WebSocketConnection>();
  return {
    name: 'websocket',
    path: '/ws',
    opens: 'upgrade',
    cursorHeader: null,
    upgradeProblem: webSocketHandshakeProblem,
    open(wire, params) {
      if (wire.kind !== 'upgrade') return;
      // `ws` writes the 101 and calls back at once, where `connected` is written: corked, the
      // two leave in one syscall instead of two, a third of a connection's set-up writes.
      wire.socket.cork();
      try {
        wss.handleUpgrade(wire.req, wire.socket, wire.head, (ws) =>
          serve(context, ws, wire.socket, params, open),
        );
      } finally {
        wire.socket.uncork();
      }
    },
    refuse(wire, error) {
      if (wire.kind !== 'upgrade') return;
      wss.handleUpgrade(wire.req, wire.socket, wire.head, (ws) => {
        ws.send(encodeErrorFrame(undefined, error.code, error.message));
        closeSoon(ws, error);
      });
    },
    connectionCount: () => open.size,
    close: () => wss.close(),
  };
}

function closeSoon(ws: WebSocket, { code }: { readonly code: ErrorCode }): void {
  ws.close(closeCodeOf(code), code);
  setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
}

function serve(
  context: TransportContext,
  ws: ConnectionSocket,
  socket: Duplex,
  params: SubscribeParams,
  open: Set<WebSocketConnection>,
): void {
  let session: Session;
  const connection = new WebSocketConnection(context, ws, socket, open);
  try {
    session = context.hub.openSession({
      transport: 'websocket',
      identity: params.identity,
      sink: connection,
      address: params.address,
    });
  } catch (error) {
    const failure = asPushwireError(error);
    ws.send(encodeErrorFrame(undefined, failure.code, failure.message));
    closeSoon(ws, failure);
    return;
  }
  connection.start(session);
}

/**
 * A `ws` socket that knows its connection, for listeners shared by every connection (`this`
 * is the socket): closures would be three more objects and a context per connection, and a
 * map from socket to connection an entry in its table.
 */
class ConnectionSocket extends WebSocket {
  connection: WebSocketConnection | null = null;
}

/** `ws` types a listener's `this` as its base class; every socket of this server is one of these. */
const connectionOf = (ws: WebSocket) => (ws as ConnectionSocket).connection;

function onPong(this: WebSocket): void {
  connectionOf(this)?.heard();
}

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  connectionOf(this)?.receive(data, isBinary);
}

function onGone(this: WebSocket): void {
  connectionOf(this)?.dispose();
}

/** The frame is the bare pong (any other pong is parsed, and ignored, like every command). */
export function isPong(data: RawData): boolean {
  return Buffer.isBuffer(data) && data.length === PONG.length && PONG.equals(data);
}

/**
 * Turns of the event loop, as the frame shares count them: one immediate for every connection,
 * booked by the first frame handled in a turn (one per connection and frame was most of what an
 * idle connection's pong allocated).
 */
let loopTurn = 0;
let loopTurnBooked = false;

function nextLoopTurn(): void {
  loopTurn++;
  loopTurnBooked = false;
}

function nextTurnOf(connection: WebSocketConnection): void {
  connection.nextTurn();
}

class WebSocketConnection implements SessionSink, WriterOwner {
  private session: Session | null = null;
  private readonly writer: ConnectionWriter;
  private disposed = false;
  /**
   * Frames taken for handling (--max-commands-per-second); null: none yet, or no limit. Made
   * at the first frame: a bucket starts full, so a later start changes nothing.
   */
  private commands: TokenBucket | null = null;
  /**
   * Frames refused for the rate: a client that goes on sending well over it (past half the
   * rate again, sustained) doesn't listen to rate_limited and is cut. Made at the first
   * refusal, as most connections never have one.
   */
  private refusals: TokenBucket | null = null;
  /** Frames that arrived while this turn's share was used up, oldest from `inboxHead`. */
  private inbox: [RawData, boolean][] = NO_FRAMES;
  private inboxHead = 0;
  private handledThisTurn = 0;
  /** The loop turn handledThisTurn counts frames of. */
  private turn = -1;
  private paused = false;

  constructor(
    private readonly context: TransportContext,
    private readonly ws: ConnectionSocket,
    socket: Duplex,
    private readonly open: Set<WebSocketConnection>,
  ) {
    const counted = socket as Partial<SentCounter>;
    this.writer = new ConnectionWriter(
      socket,
      WEBSOCKET_FORMAT,
      context,
      this,
      typeof counted.bytesWritten === 'number' ? (socket as Duplex & SentCounter) : null,
    );
    this.writer.lastSeenAt = Date.now();
  }

  start(session: Session): void {
    this.session = session;
    this.open.add(this);
    const { ws, writer } = this;
    ws.connection = this;
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', onGone);
    ws.on('error', onGone);
    writer.start(session);
  }

  writerFailed(code: 'slow_consumer' | 'heartbeat_timeout'): void {
    const reason = code === 'slow_consumer' ? 'send buffer overflow' : 'no pong in time';
    this.session?.end({ code, reason, reconnectDelayMs: 0 });
  }

  /** A pong: the peer is there. */
  heard(): void {
    this.writer.lastSeenAt = Date.now();
  }

  message(message: OutboundMessage, cursor: string): void {
    this.writer.message(message, cursor);
  }

  batch(batch: OutboundBatch): void {
    this.writer.batch(batch);
  }

  gap(event: GapEvent): void {
    this.writer.gap(event);
  }

  dropped(channel: string, code: ErrorCode, reason: string): void {
    this.writer.error({ op: 'error', code, message: reason, channel });
  }

  bufferedBytes(): number {
    return this.writer.target.writableLength;
  }

  close(request: CloseRequest): void {
    this.writer.farewell(request);
    this.writer.stop();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      closeSoon(this.ws, request);
    }
    this.dispose();
  }

  receive(data: RawData, isBinary: boolean): void {
    this.writer.lastSeenAt = Date.now();
    if (this.disposed) return;
    if (this.inboxHead === this.inbox.length && this.shareLeft()) {
      this.take(data, isBinary);
      return;
    }
    if (this.inbox === NO_FRAMES) this.inbox = [];
    // The first frame to wait books the turn that takes it; later ones find it booked.
    if (this.inboxHead === this.inbox.length) setImmediate(nextTurnOf, this);
    this.inbox.push([data, isBinary]);
    if (!this.paused && this.inbox.length - this.inboxHead >= INBOX_PAUSE_AT) {
      this.paused = true;
      this.ws.pause();
    }
  }

  /**
   * Handles one frame in this turn's share; the first frame any connection handles in a loop
   * turn books the turn count's next step.
   */
  private take(data: RawData, isBinary: boolean): void {
    this.handledThisTurn++;
    if (!loopTurnBooked) {
      loopTurnBooked = true;
      setImmediate(nextLoopTurn);
    }
    if (!this.admit(data, isBinary)) return;
    if (isBinary) {
      this.writer.raw(
        webSocketTextFrame(encodeErrorFrame(undefined, 'invalid_request', 'send JSON text frames')),
      );
      return;
    }
    if (isPong(data)) return;
    this.handle(data.toString());
  }

  /** True while this turn's share of frames is not used up. */
  private shareLeft(): boolean {
    if (this.turn !== loopTurn) {
      this.turn = loopTurn;
      this.handledThisTurn = 0;
    }
    return this.handledThisTurn < FRAMES_PER_TURN;
  }

  /** Takes waiting frames, a turn's share of them, and books the next turn if some are left. */
  nextTurn(): void {
    this.turn = loopTurn;
    this.handledThisTurn = 0;
    while (this.inboxHead < this.inbox.length && this.handledThisTurn < FRAMES_PER_TURN && !this.disposed) {
      const [data, isBinary] = this.inbox[this.inboxHead]!;
      this.inbox[this.inboxHead++] = undefined as never;
      this.take(data, isBinary);
    }
    if (this.inboxHead === this.inbox.length) {
      this.inbox = NO_FRAMES;
      this.inboxHead = 0;
    } else if (this.inboxHead > INBOX_PAUSE_AT * 4) {
      // A client that keeps the inbox from emptying must not grow it with handled slots.
      this.inbox = this.inbox.slice(this.inboxHead);
      this.inboxHead = 0;
    }
    if (this.inboxHead < this.inbox.length) setImmediate(nextTurnOf, this);
    if (this.paused && !this.disposed && this.inbox.length - this.inboxHead < INBOX_PAUSE_AT / 2) {
      this.paused = false;
      this.ws.resume();
    }
  }

  /** Takes a token for a frame; past the rate, answers rate_limited, and cuts a client that goes on. */
  private admit(data: RawData, isBinary: boolean): boolean {
    const rate = this.context.maxCommandsPerSecond;
    if (rate === null) return true;
    this.commands ??= new TokenBucket(rate, rate * 2);
    if (this.commands.take()) return true;
    this.context.counters.commandsRateLimited += 1;
    this.refusals ??= new TokenBucket(Math.max(1, rate / 2), Math.max(10, rate));
    if (!this.refusals.take()) {
      this.session?.end({
        code: 'rate_limited',
        reason: 'too many commands: the connection went on far past its rate',
        reconnectDelayMs: 0,
      });
      return false;
    }
    const parsed = isBinary ? null : parseClientCommand(data.toString());
    const id = parsed === null ? undefined : parsed.ok ? parsed.command.id : parsed.id;
    this.writer.raw(webSocketTextFrame(encodeErrorFrame(id, 'rate_limited', 'too many commands: slow down')));
    return false;
  }

  /**
   * The last-resort guard of frames: a frame whose handling throws (a bug) is answered with an
   * `internal` error frame and logged once; the connection, and every other, goes on.
   */
  private handle(text: string): void {
    try {
      this.handleCommand(text);
    } catch (error) {
      (this.context.fault ?? this.context.report)('websocket frame', error);
      try {
        this.writer.raw(webSocketTextFrame(encodeErrorFrame(undefined, 'internal', 'internal server error')));
      } catch {
        this.ws.terminate();
      }
    }
  }

  private handleCommand(text: string): void {
    const parsed = parseClientCommand(text);
    if (!parsed.ok) {
      const { code, message } = parsed.error;
      this.writer.raw(webSocketTextFrame(encodeErrorFrame(parsed.id, code, message)));
      return;
    }
    const { command } = parsed;
    if (command.op === 'pong') return;
    const session = this.session;
    if (!session || session.closed) return;
    let pending: Promise<void> | undefined;
    try {
      pending = this.run(session, command);
    } catch (error) {
      this.failed(command.id, error);
      return;
    }
    pending?.catch((error: unknown) => this.failed(command.id, error));
  }

  /** A command was refused (or failed): its error frame, and a log line when it is a bug. */
  private failed(id: CommandId | undefined, error: unknown): void {
    const failure = asPushwireError(error);
    if (failure.code === 'internal') (this.context.fault ?? this.context.report)('websocket command', error);
    this.writer.raw(webSocketTextFrame(encodeErrorFrame(id, failure.code, failure.message)));
  }

  /** Undefined when the command was done at once (see Session.execute). */
  private run(session: Session, command: Exclude<ClientCommand, { op: 'pong' }>): Promise<void> | undefined {
    if (command.op === 'refresh') return this.refresh(session, command.id, command.token);
    return session.execute(command, (result) =>
      this.writer.raw(webSocketTextFrame(replyJson(command.id, result))),
    );
  }

  private async refresh(session: Session, id: CommandId | undefined, token: string): Promise<void> {
    const { identifyToken, counters } = this.context;
    const expiresAt = await refreshSession(session, identifyToken, token, counters);
    this.writer.raw(webSocketTextFrame(encodeReplyFrame(id, { expiresAt })));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.inbox = NO_FRAMES;
    this.inboxHead = 0;
    this.open.delete(this);
    this.writer.stop();
    this.session?.close();
  }
}
