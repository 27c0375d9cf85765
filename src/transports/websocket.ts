import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import {
  type CloseRequest,
  concatEncoded,
  type Identity,
  type OutboundBatch,
  type OutboundMessage,
  type Session,
  type SessionSink,
} from '../core/index.ts';
import {
  asPushwireError,
  type ClientCommand,
  type CommandId,
  ERROR_CODES,
  encodeErrorFrame,
  encodeReplyFrame,
  type GapEvent,
  type Publication,
  PushwireError,
  parseClientCommand,
} from '../protocol/index.ts';
import { messageJson, webSocketTextFrame } from './encodings.ts';
import type { Beating } from './heartbeat.ts';
import type { TransportContext } from './types.ts';

/** The frame of a message for one-channel connections: built once, written to every socket. */
const sharedFrame = (message: OutboundMessage) =>
  webSocketTextFrame(messageJson(message, message.soloCursor(), true));
const sharedBatch = (batch: OutboundBatch) => concatEncoded(batch, sharedFrame);
const PING = '{"op":"ping"}';
const TEXT = { binary: false } as const;
const MAX_HISTORY_LIMIT = 1000;
/** A peer that doesn't answer our close frame is cut after this long. */
const CLOSE_GRACE_MS = 1000;

/**
 * Serves one upgraded WebSocket: JSON commands in, messages, replies and pings out. Auth
 * happened at the upgrade; rights and history are the hub's business.
 */
export function serveWebSocket(
  context: TransportContext,
  ws: WebSocket,
  socket: Duplex,
  identity: Identity,
): void {
  const connection = new WebSocketConnection(context, ws, socket);
  let session: Session;
  try {
    session = context.hub.openSession({ transport: 'websocket', identity, sink: connection });
  } catch (error) {
    const failure = asPushwireError(error);
    ws.close(ERROR_CODES[failure.code].closeCode ?? 1011, failure.code);
    return;
  }
  connection.start(session);
}

/** Ends a run of single-message writes (see WebSocketConnection.message). */
function uncork(connection: WebSocketConnection): void {
  connection.corked = false;
  connection.socket.uncork();
  connection.checkBacklog();
}

class WebSocketConnection implements SessionSink, Beating {
  lastWriteTick = 0;
  lastSeenAt: number | null = Date.now();
  /** Writes are held back until the end of this tick (a run of single messages). */
  corked = false;
  private session: Session | null = null;

  constructor(
    private readonly context: TransportContext,
    private readonly ws: WebSocket,
    /** The upgraded TCP socket under `ws`: messages are written to it as prebuilt frames. */
    readonly socket: Duplex,
  ) {}

  start(session: Session): void {
    this.session = session;
    const { ws, context } = this;
    ws.on('message', (data, isBinary) => {
      this.lastSeenAt = Date.now();
      if (isBinary) {
        this.send(encodeErrorFrame(undefined, 'invalid_request', 'send JSON text frames'));
        return;
      }
      this.handle(data.toString());
    });
    ws.on('pong', () => {
      this.lastSeenAt = Date.now();
    });
    ws.on('close', () => this.dispose());
    ws.on('error', () => this.dispose());
    const heartbeatIntervalMs = context.heartbeat?.intervalMs ?? null;
    this.send(
      JSON.stringify({
        op: 'connected',
        clientId: session.id,
        cursor: session.cursor(),
        heartbeatIntervalMs,
      }),
    );
    context.heartbeat?.add(this);
  }

  message(message: OutboundMessage, cursor: string): void {
    const frame =
      cursor === message.soloCursor()
        ? message.encoded(sharedFrame)
        : webSocketTextFrame(messageJson(message, cursor, true));
    // Messages one by one come in runs (a resume's replay): one syscall for the run.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
    this.writeFrames(frame);
  }

  batch(batch: OutboundBatch): void {
    this.writeFrames(batch.encoded(sharedBatch));
  }

  /**
   * One write of prebuilt frames instead of ws.send's header + payload writev per socket.
   * Safe beside ws's own writes: without compression ws writes each frame synchronously.
   */
  private writeFrames(frames: Buffer): void {
    const { ws, socket, context } = this;
    if (ws.readyState !== ws.OPEN) return;
    socket.write(frames);
    this.wrote(context);
  }

  gap(event: GapEvent): void {
    this.send(JSON.stringify(event));
  }

  close(request: CloseRequest): void {
    if (request.code === 'shutting_down') {
      this.send(
        JSON.stringify({ op: 'reconnect', reason: request.reason, delayMs: request.reconnectDelayMs }),
      );
    }
    this.shut(ERROR_CODES[request.code].closeCode ?? 1011, request.code);
  }

  ping(): void {
    this.send(PING);
  }

  timedOut(): void {
    this.session?.end({ code: 'heartbeat_timeout', reason: 'no pong in time', reconnectDelayMs: 0 });
  }

  private handle(text: string): void {
    const parsed = parseClientCommand(text);
    if (!parsed.ok) {
      this.send(encodeErrorFrame(parsed.id, parsed.error.code, parsed.error.message));
      return;
    }
    const { command } = parsed;
    if (command.op === 'pong') return;
    this.run(command).catch((error: unknown) => {
      const failure = asPushwireError(error);
      if (failure.code === 'internal') this.context.report('websocket command', error);
      this.send(encodeErrorFrame(command.id, failure.code, failure.message));
    });
  }

  private async run(command: Exclude<ClientCommand, { op: 'pong' }>): Promise<void> {
    const session = this.session;
    if (!session || session.closed) return;
    const { hub } = this.context;
    switch (command.op) {
      case 'subscribe': {
        const since = command.cursor?.get(command.channel);
        await session.subscribe([{ channel: command.channel, since }], ([start]) => {
          const { epoch, offset } = start!.position;
          this.send(
            encodeReplyFrame(command.id, { channel: command.channel, epoch, offset, cursor: start!.cursor }),
          );
        });
        return;
      }
      case 'unsubscribe':
        session.unsubscribe(command.channel);
        this.send(encodeReplyFrame(command.id, { channel: command.channel }));
        return;
      case 'publish': {
        const { offset, epoch } = await hub.publishFrom(
          session.identity,
          session.id,
          command.channel,
          command.data,
        );
        this.send(encodeReplyFrame(command.id, { channel: command.channel, offset, epoch }));
        return;
      }
      case 'history': {
        assertMaySee(session, command.channel);
        const limit = Math.min(command.limit ?? MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT);
        const since = command.cursor?.get(command.channel);
        const { publications, top } = await hub.history(
          command.channel,
          since ? { since, limit } : { limit },
        );
        this.send(historyReply(command.id, command.channel, publications, top.epoch, top.offset));
        return;
      }
      case 'presence': {
        assertMaySee(session, command.channel);
        const clients = await hub.presence(command.channel);
        this.send(encodeReplyFrame(command.id, { channel: command.channel, clients }));
        return;
      }
    }
  }

  private send(frame: Buffer | string): void {
    const { ws, context } = this;
    if (ws.readyState !== ws.OPEN) return;
    ws.send(frame, TEXT);
    this.wrote(context);
  }

  private wrote(context: TransportContext): void {
    if (context.heartbeat) this.lastWriteTick = context.heartbeat.tick;
    if (!this.corked) this.checkBacklog();
  }

  /** Ends a slow consumer; not while corked, when everything written so far waits by design. */
  checkBacklog(): void {
    if (this.socket.writableLength > this.context.maxBufferedBytes) {
      this.session?.end({ code: 'slow_consumer', reason: 'send buffer overflow', reconnectDelayMs: 0 });
    }
  }

  private shut(code: number, reason: string): void {
    const { ws } = this;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) {
      ws.close(code, reason);
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    }
    this.dispose();
  }

  private dispose(): void {
    this.context.heartbeat?.remove(this);
    this.session?.close();
  }
}

function assertMaySee(session: Session, channel: string): void {
  if (!session.identity.canSubscribe(channel)) {
    throw new PushwireError('forbidden', `not allowed to read "${channel}"`);
  }
}

/** Built by hand: each publication's data is JSON text already and must not be re-encoded. */
function historyReply(
  id: CommandId | undefined,
  channel: string,
  publications: readonly Publication[],
  epoch: string,
  offset: number,
): string {
  const messages = publications
    .map((p) => `{"channel":"${p.channel}","offset":${p.offset},"epoch":"${p.epoch}","data":${p.data}}`)
    .join(',');
  const head = id === undefined ? '' : `"id":${JSON.stringify(id)},`;
  return `{${head}"op":"reply","channel":"${channel}","messages":[${messages}],"epoch":"${epoch}","offset":${offset}}`;
}
