import type { CloseRequest, OutboundBatch, OutboundMessage, Session } from '../core/index.ts';
import type {
  ConnectedEvent,
  ErrorCode,
  GapEvent,
  ReconnectEvent,
  TransportName,
} from '../protocol/index.ts';
import type { Beating } from './heartbeat.ts';
import type { BudgetMember } from './outbound-budget.ts';
import type { TransportContext } from './types.ts';

/** A control event that ends or refuses something, as every push format writes it. */
export interface ErrorEvent {
  readonly op: 'error';
  readonly code: ErrorCode;
  readonly message: string;
  readonly channel?: string;
}

/** How one push transport (WebSocket, SSE, NDJSON stream) puts events into bytes. */
export interface PushFormat {
  readonly transport: TransportName;
  /** Written once, before anything else. */
  readonly preamble: string;
  readonly ping: Buffer | string;
  connected(event: ConnectedEvent): Buffer | string;
  message(message: OutboundMessage, cursor: string): Buffer | string;
  /** A batch's messages with their one-channel cursors: bytes shared by every such connection. */
  batch(batch: OutboundBatch): Buffer;
  gap(event: GapEvent): Buffer | string;
  reconnect(event: ReconnectEvent): Buffer | string;
  error(event: ErrorEvent): Buffer | string;
}

/** Where a writer's bytes go: an HTTP response or the socket under a WebSocket. */
export interface WriteTarget {
  write(chunk: Buffer | string): unknown;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
}

/** The socket under a connection: what it has sent, as Node's net.Socket counts it. */
export interface SentCounter {
  /** Bytes written to the socket, whether sent yet or not. */
  readonly bytesWritten: number;
  /** Bytes written to the socket and not yet handed to the kernel. */
  readonly writableLength: number;
}

/**
 * Heartbeat intervals in a row with unsent bytes and nothing sent before a connection is
 * taken for dead: long enough for a slow reader to make some progress, short enough that a
 * vanished peer's connection doesn't outlive its client's reconnect by much.
 */
export const STALLED_INTERVALS = 3;

/** Ends a run of single-message writes (see ConnectionWriter.message). */
function uncork(writer: ConnectionWriter): void {
  writer.corked = false;
  writer.target.uncork();
}

/** The connection a writer writes for (an object, not a closure: one fewer per connection). */
export interface WriterOwner {
  /** The connection is a slow consumer, or its peer stopped answering pings. */
  writerFailed(code: 'slow_consumer' | 'heartbeat_timeout'): void;
  /**
   * Writes the format's heartbeat to the target, where the connection has a cheaper way than
   * `target.write(format.ping)` to put the same bytes on the wire. The writer has checked the
   * queue limit, and stamps the write, as for any other.
   */
  writeHeartbeat?(): void;
}

/**
 * The outgoing half of one push connection, the same for every push transport: events into
 * the format's bytes, runs of single messages corked into one syscall per turn, a heartbeat
 * stamp on every write (a write is a heartbeat too) and the slow-consumer check before each
 * write: bytes that would take the connection's queue past the limit are never queued. It is
 * the heartbeat wheel's member, and the outbound budget's, for its connection.
 */
export class ConnectionWriter implements Beating, BudgetMember {
  lastWriteTick = 0;
  queuedKnown = 0;
  /** For peers that answer pings (WebSocket): when it was last heard from; null otherwise. */
  lastSeenAt: number | null = null;
  /** Writes are held back until the end of this tick (a run of single messages). */
  corked = false;
  private open = false;
  /** What the socket had sent at the last stall check; -1 before the first. */
  private sentAtCheck = -1;
  private stalledChecks = 0;

  constructor(
    readonly target: WriteTarget,
    private readonly format: PushFormat,
    private readonly context: TransportContext,
    /** Told when the connection is a slow consumer, or its peer stopped answering pings. */
    private readonly owner: WriterOwner,
    /** The socket whose progress tells a stalled connection; null where none can be seen. */
    private readonly socket: SentCounter | null = null,
  ) {}

  /** Opens the connection for writing: the preamble and `connected`, then heartbeats. */
  start(session: Session): void {
    this.open = true;
    const { heartbeat } = this.context;
    const event: ConnectedEvent = {
      op: 'connected',
      clientId: session.id,
      cursor: session.cursor(),
      heartbeatIntervalMs: heartbeat?.intervalMs ?? null,
      node: this.context.hub.nodeId,
      expiresAt: session.expiresAt,
      ...(session.replaceKey && { replaceKey: session.replaceKey }),
    };
    const connected = this.format.connected(event);
    this.context.outbound?.add(this);
    this.write(this.format.preamble === '' ? connected : this.format.preamble + connected);
    heartbeat?.add(this);
  }

  message(message: OutboundMessage, cursor: string): void {
    // Messages one by one come in runs (a resume's replay): one syscall for the run.
    if (!this.corked && this.open) {
      this.corked = true;
      this.target.cork();
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

  /** Says why the connection ends: a reconnect hint on a drain, else the error. */
  farewell(request: CloseRequest): void {
    if (request.code === 'shutting_down') {
      this.write(
        this.format.reconnect({ op: 'reconnect', reason: request.reason, delayMs: request.reconnectDelayMs }),
      );
    } else if (request.code !== 'slow_consumer') {
      this.write(this.format.error({ op: 'error', code: request.code, message: request.reason }));
    }
  }

  error(event: ErrorEvent): void {
    this.write(this.format.error(event));
  }

  /** Writes bytes the format does not make (WebSocket replies). */
  raw(chunk: Buffer | string): void {
    this.write(chunk);
  }

  ping(): void {
    this.write(this.format.ping, true);
  }

  timedOut(): void {
    this.owner.writerFailed('heartbeat_timeout');
  }

  /**
   * True when unsent bytes have waited STALLED_INTERVALS checks in a row with nothing sent:
   * the peer stopped reading, or vanished without a FIN (TCP keeps retrying for many minutes).
   */
  stalled(): boolean {
    const socket = this.socket;
    if (!socket || this.target.writableLength === 0) {
      this.stalledChecks = 0;
      return false;
    }
    // Writes raise both counts alike; only what reached the kernel raises their difference.
    const sent = socket.bytesWritten - socket.writableLength;
    if (sent !== this.sentAtCheck) {
      this.sentAtCheck = sent;
      this.stalledChecks = 0;
      return false;
    }
    return ++this.stalledChecks >= STALLED_INTERVALS;
  }

  /** No more writes: leaves the heartbeat wheel and the outbound budget. Safe to call twice. */
  stop(): void {
    this.open = false;
    this.context.heartbeat?.remove(this);
    this.context.outbound?.remove(this);
  }

  queued(): number {
    return this.target.writableLength;
  }

  /** The outbound budget cuts this connection, one of the slowest readers. */
  cut(): void {
    this.slowConsumer();
  }

  private slowConsumer(): void {
    if (!this.open) return;
    this.stop();
    this.owner.writerFailed('slow_consumer');
  }

  /**
   * A chunk goes out only if the connection's queue stays within the limit with it; a chunk
   * alone on an empty queue always goes (one batch may be larger than the limit).
   */
  private write(chunk: Buffer | string, heartbeat = false): void {
    if (!this.open) return;
    const queued = this.target.writableLength;
    // A string's length counts characters: at most its UTF-8 bytes, and cheap.
    const after = queued + chunk.length;
    if (queued > 0 && after > this.context.maxBufferedBytes) {
      this.slowConsumer();
      return;
    }
    if (heartbeat && this.owner.writeHeartbeat) this.owner.writeHeartbeat();
    else this.target.write(chunk);
    if (this.context.heartbeat) this.lastWriteTick = this.context.heartbeat.tick;
    this.context.outbound?.wrote(this, after);
  }
}
