import type { ServerResponse } from 'node:http';
import type { CloseRequest, OutboundBatch, OutboundMessage, Session, SessionSink } from '../core/index.ts';
import type { ErrorCode, GapEvent, TransportName } from '../protocol/index.ts';
import { ConnectionWriter, type PushFormat, type WriterOwner } from './connection-writer.ts';
import { flattenHead, refuseRequest, sendError } from './http-util.ts';
import type { SubscribeParams, Transport, TransportContext } from './types.ts';

/** How long a replaced connection's farewell may take to leave before its socket is closed. */
const REPLACED_GRACE_MS = 1000;

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * A format's heartbeat as one HTTP/1.1 chunk, size line and all: the bytes `res.write(ping)`
 * puts on the wire, built once.
 */
export function chunkOf(bytes: Buffer | string): Buffer {
  const body = Buffer.from(bytes);
  return Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`, 'latin1'), body, CRLF]);
}

/**
 * Writes `chunk` to a streaming response whose head and first bytes went out, as `res.write`
 * would, but as `framed` (chunkOf(chunk)) straight to the socket where Node would frame it as a
 * chunk: `res.write` corks the socket, queues the size line, a CRLF, the bytes and a CRLF as
 * four writes and uncorks at the end of the tick, so a heartbeat turn's writes to thousands
 * of connections all stayed alive until the turn ended (about 1.3 KB each, most of it
 * surviving into the old generation). Anything else (no chunked framing: HTTP/1.0, HEAD; no socket of its
 * own yet: a pipelined response; ended) goes through `res.write`.
 */
export function writeFramed(res: ServerResponse, chunk: Buffer | string, framed: Buffer): void {
  const socket = res.socket;
  if (res.chunkedEncoding && socket && !socket.destroyed && !res.writableEnded) socket.write(framed);
  else res.write(chunk);
}

/** How a streaming format (SSE, NDJSON) labels its response. */
export interface StreamFormat extends PushFormat {
  readonly contentType: string;
}

/**
 * A transport whose events flow down one long-lived HTTP response (SSE and NDJSON
 * streaming): it opens the session, writes the head only once the subscription is in place
 * (so errors are still real HTTP statuses), then events and heartbeats, and a reconnect
 * event on drain.
 */
export function streamTransport(
  context: TransportContext,
  format: StreamFormat,
  options: { readonly name: TransportName; readonly path: string; readonly cursorHeader: string | null },
): Transport {
  const open = new Set<StreamConnection>();
  const framedPing = chunkOf(format.ping);
  return {
    ...options,
    opens: 'request',
    open(wire, params) {
      if (wire.kind !== 'response') return;
      try {
        serve(context, format, framedPing, wire.res, params, open);
      } catch (error) {
        context.report('stream', error);
      }
    },
    refuse: refuseRequest,
    connectionCount: () => open.size,
    close() {},
  };
}

function serve(
  context: TransportContext,
  format: StreamFormat,
  framedPing: Buffer,
  res: ServerResponse,
  params: SubscribeParams,
  open: Set<StreamConnection>,
): void {
  let session: Session;
  const connection = new StreamConnection(context, format, framedPing, res, params.headers, open);
  try {
    session = context.hub.openSession({
      transport: format.transport,
      identity: params.identity,
      sink: connection,
      address: params.address,
    });
  } catch (error) {
    sendError(res, error, params.headers);
    return;
  }
  connection.session = session;
  open.add(connection);
  res.on('close', connection.dispose);
  const requests = params.channels.map((channel) => ({ channel, since: params.cursor?.get(channel) }));
  const begin = () => connection.begin(session);
  try {
    // Most connections subscribe to one channel at its top: done at once, without a promise.
    if (requests.length === 1 && session.subscribeNow(requests[0]!, begin)) return;
    session.subscribe(requests, begin).catch((error: unknown) => connection.refused(error));
  } catch (error) {
    connection.refused(error);
  }
}

class StreamConnection implements SessionSink, WriterOwner {
  session: Session | null = null;
  private readonly writer: ConnectionWriter;
  private disposed = false;

  constructor(
    context: TransportContext,
    private readonly format: StreamFormat,
    /** chunkOf(format.ping), shared by the transport's connections. */
    private readonly framedPing: Buffer,
    private readonly res: ServerResponse,
    private readonly headers: Readonly<Record<string, string>>,
    private readonly open: Set<StreamConnection>,
  ) {
    this.writer = new ConnectionWriter(res, format, context, this, res.socket);
  }

  /** The subscribe was refused: the error answers the request; only then may the response end. */
  refused(error: unknown): void {
    sendError(this.res, error, this.headers);
    this.dispose();
  }

  writerFailed(code: 'slow_consumer' | 'heartbeat_timeout'): void {
    const reason = code === 'slow_consumer' ? 'send buffer overflow' : 'written bytes stopped draining';
    this.session?.end({ code, reason, reconnectDelayMs: 0 });
  }

  /** The ping after the head and the first bytes (see ConnectionWriter.start): one socket write. */
  writeHeartbeat(): void {
    writeFramed(this.res, this.format.ping, this.framedPing);
  }

  begin(session: Session): void {
    if (this.disposed) return;
    this.res.writeHead(200, {
      'Content-Type': this.format.contentType,
      // no-transform: proxies must not compress or rewrite; X-Accel-Buffering: nginx must not buffer.
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
      ...this.headers,
    });
    flattenHead(this.res);
    this.res.socket?.setNoDelay(true);
    this.writer.start(session);
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
    return this.res.writableLength;
  }

  close(request: CloseRequest): void {
    if (request.code === 'slow_consumer' || request.code === 'heartbeat_timeout') {
      // Nothing written drains any more: a farewell would wait behind the rest, forever.
      this.res.destroy();
    } else {
      this.writer.farewell(request);
      this.res.end();
      // A replaced connection's peer is most likely gone: free its socket rather than keep it
      // for a next request (keep-alive) that will never come.
      if (request.code === 'replaced') setTimeout(() => this.res.destroy(), REPLACED_GRACE_MS).unref();
    }
    this.dispose();
  }

  /** An arrow so it can be the response's close listener without a bound copy. */
  readonly dispose = (): void => {
    if (this.disposed) return;
    this.disposed = true;
    this.open.delete(this);
    this.writer.stop();
    this.session?.close();
    if (!this.res.writableEnded) this.res.end();
  };
}
