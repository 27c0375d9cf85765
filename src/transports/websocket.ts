import type { Duplex } from 'node:stream';
import { type RawData, type WebSocket, WebSocketServer } from 'ws';
import {
  type CloseRequest,
  concatEncoded,
  type OutboundBatch,
  type OutboundMessage,
  type Session,
  type SessionSink,
} from '../core/index.ts';
import {
  asPushwireError,
  type ClientCommand,
  closeCodeOf,
  type ErrorCode,
  encodeErrorFrame,
  type GapEvent,
  parseClientCommand,
} from '../protocol/index.ts';
import { ConnectionWriter, type PushFormat } from './connection-writer.ts';
import { framed, messageJson, replyJson, webSocketTextFrame } from './encodings.ts';
import type { SubscribeParams, Transport, TransportContext } from './types.ts';

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
 * WebSocket at /ws: JSON commands in, carried out by the session; messages, replies and
 * pings out. Refused connections are upgraded anyway, told why and closed with the error's
 * close code, because browsers never show a script the status of a refused upgrade.
 */
export function webSocketTransport(context: TransportContext): Transport {
  // The frame limit leaves room for the command envelope around the data.
  const wss = new WebSocketServer({
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
  ws: WebSocket,
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
      address: (socket as { remoteAddress?: string }).remoteAddress ?? null,
    });
  } catch (error) {
    const failure = asPushwireError(error);
    ws.send(encodeErrorFrame(undefined, failure.code, failure.message));
    closeSoon(ws, failure);
    return;
  }
  connection.start(session);
}

const connections = new WeakMap<WebSocket, WebSocketConnection>();

function onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  connections.get(this)?.received(data, isBinary);
}

function onPong(this: WebSocket): void {
  const connection = connections.get(this);
  if (connection) connection.heard();
}

class WebSocketConnection implements SessionSink {
  private session: Session | null = null;
  private readonly writer: ConnectionWriter;
  private disposed = false;

  constructor(
    private readonly context: TransportContext,
    private readonly ws: WebSocket,
    socket: Duplex,
    private readonly open: Set<WebSocketConnection>,
  ) {
    this.writer = new ConnectionWriter(socket, WEBSOCKET_FORMAT, context, (code) => {
      const reason = code === 'slow_consumer' ? 'send buffer overflow' : 'no pong in time';
      this.session?.end({ code, reason, reconnectDelayMs: 0 });
    });
    this.writer.lastSeenAt = Date.now();
  }

  start(session: Session): void {
    this.session = session;
    this.open.add(this);
    const { ws } = this;
    // Shared listeners that find their connection on the socket, rather than closures: these
    // live as long as the connection, and at 10,000 idle connections every closure counts.
    connections.set(ws, this);
    ws.on('message', onMessage);
    ws.on('pong', onPong);
    ws.on('close', this.dispose);
    ws.on('error', this.dispose);
    this.writer.start(session);
  }

  received(data: RawData, isBinary: boolean): void {
    this.writer.lastSeenAt = Date.now();
    if (isBinary) {
      this.writer.raw(
        webSocketTextFrame(encodeErrorFrame(undefined, 'invalid_request', 'send JSON text frames')),
      );
      return;
    }
    this.handle(data.toString());
  }

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

  private handle(text: string): void {
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
    this.run(session, command).catch((error: unknown) => {
      const failure = asPushwireError(error);
      if (failure.code === 'internal') this.context.report('websocket command', error);
      this.writer.raw(webSocketTextFrame(encodeErrorFrame(command.id, failure.code, failure.message)));
    });
  }

  private run(session: Session, command: Exclude<ClientCommand, { op: 'pong' }>): Promise<void> {
    return session.execute(command, (result) =>
      this.writer.raw(webSocketTextFrame(replyJson(command.id, result))),
    );
  }

  private readonly dispose = (): void => {
    if (this.disposed) return;
    this.disposed = true;
    this.open.delete(this);
    this.writer.stop();
    this.session?.close();
  };
}
