import type { ServerResponse } from 'node:http';
import type { CloseRequest, OutboundBatch, OutboundMessage, Session, SessionSink } from '../core/index.ts';
import { type ConnectedEvent, type GapEvent, PushwireError, type ReconnectEvent } from '../protocol/index.ts';
import type { Beating } from './heartbeat.ts';
import { sendError } from './http-util.ts';
import type { SubscribeParams, TransportContext, TransportName } from './types.ts';

/** How one streaming format (SSE, NDJSON) puts events into bytes. */
export interface StreamFormat {
  readonly transport: TransportName;
  readonly contentType: string;
  /** Written once, before anything else. */
  readonly preamble: string;
  readonly ping: string;
  connected(event: ConnectedEvent): string;
  message(message: OutboundMessage, cursor: string): Buffer | string;
  /** A batch's messages with their one-channel cursors: shared bytes. */
  batch(batch: OutboundBatch): Buffer;
  gap(event: GapEvent): string;
  reconnect(event: ReconnectEvent): string;
}

/**
 * One long-lived HTTP response carrying a session's events (SSE and NDJSON streaming): it
 * opens the session, writes the head only once the subscription is in place (so errors are
 * still real HTTP statuses), then events, heartbeats, and a reconnect event on drain.
 */
export async function serveStream(
  context: TransportContext,
  format: StreamFormat,
  res: ServerResponse,
  params: SubscribeParams,
): Promise<void> {
  const connection = new StreamConnection(context, format, res, params.headers);
  let session: Session;
  try {
    session = context.hub.openSession({
      transport: format.transport,
      identity: params.identity,
      sink: connection,
    });
  } catch (error) {
    sendError(res, error, params.headers);
    return;
  }
  connection.session = session;
  res.on('close', connection.dispose);
  try {
    await session.subscribe(
      params.channels.map((channel) => ({ channel, since: params.cursor?.get(channel) })),
      (_starts, cursor) => connection.begin(session.id, cursor),
    );
  } catch (error) {
    session.close();
    if (!res.headersSent && !res.destroyed) sendError(res, error, params.headers);
    else connection.dispose();
  }
}

/** Ends a run of single-message writes (see StreamConnection.message). */
function uncork(connection: StreamConnection): void {
  connection.corked = false;
  connection.res.uncork();
  connection.checkBacklog();
}

class StreamConnection implements SessionSink, Beating {
  session: Session | null = null;
  lastWriteTick = 0;
  readonly lastSeenAt = null;
  /** Writes are held back until the end of this tick (a run of single messages). */
  corked = false;
  private open = false;
  private disposed = false;

  constructor(
    private readonly context: TransportContext,
    private readonly format: StreamFormat,
    readonly res: ServerResponse,
    private readonly headers: Readonly<Record<string, string>>,
  ) {}

  begin(clientId: string, cursor: string): void {
    if (this.disposed) return;
    const { format, context, res } = this;
    res.writeHead(200, {
      'Content-Type': format.contentType,
      // no-transform: proxies must not compress or rewrite; X-Accel-Buffering: nginx must not buffer.
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
      ...this.headers,
    });
    res.socket?.setNoDelay(true);
    this.open = true;
    const heartbeatIntervalMs = context.heartbeat?.intervalMs ?? null;
    this.write(
      format.preamble + format.connected({ op: 'connected', clientId, cursor, heartbeatIntervalMs }),
    );
    context.heartbeat?.add(this);
  }

  message(message: OutboundMessage, cursor: string): void {
    // Messages one by one come in runs (a resume's replay): one syscall for the run.
    if (!this.corked && this.open) {
      this.corked = true;
      this.res.cork();
      process.nextTick(uncork, this);
    }
    this.write(this.format.message(message, cursor));
  }

  batch(batch: OutboundBatch): void {
    this.write(this.format.batch(batch));
  }

  gap(event: GapEvent): void {
    this.write(this.format.gap(event));
  }

  close(request: CloseRequest): void {
    if (this.open && !this.disposed) {
      this.write(
        this.format.reconnect({ op: 'reconnect', reason: request.reason, delayMs: request.reconnectDelayMs }),
      );
      this.res.end();
    }
    this.dispose();
  }

  ping(): void {
    this.write(this.format.ping);
  }

  timedOut(): void {}

  /** An arrow so it can be the response's close listener without a bound copy. */
  readonly dispose = (): void => {
    if (this.disposed) return;
    this.disposed = true;
    this.context.heartbeat?.remove(this);
    this.session?.close();
    if (!this.res.writableEnded) this.res.end();
  };

  private write(chunk: Buffer | string): void {
    if (!this.open || this.disposed) return;
    this.res.write(chunk);
    if (this.context.heartbeat) this.lastWriteTick = this.context.heartbeat.tick;
    if (!this.corked) this.checkBacklog();
  }

  /** Cuts a slow consumer; not while corked, when everything written so far waits by design. */
  checkBacklog(): void {
    if (this.res.writableLength > this.context.maxBufferedBytes && !this.disposed) {
      this.context.report('slow_consumer', new PushwireError('slow_consumer'));
      this.res.destroy();
      this.dispose();
    }
  }
}
