import { concatEncoded, type OutboundBatch, type OutboundMessage } from '../core/index.ts';
import { framed, messageJson, sharedEncoder } from './encodings.ts';
import { type StreamFormat, streamTransport } from './http-stream.ts';
import type { Transport, TransportContext } from './types.ts';

/** How long EventSource waits before it reconnects by itself after the stream ends. */
const RETRY_MS = 2000;

const encode = (message: OutboundMessage, cursor: string) =>
  `id: ${cursor}\ndata: ${messageJson(message, cursor, false)}\n\n`;
const shared = sharedEncoder(encode);
const sharedBatch = (batch: OutboundBatch) => concatEncoded(batch, shared);

/** A named event; `op` is the event's name, not part of its data. */
function named(name: string, { op: _op, ...event }: { op: string }, id?: string): string {
  return `event: ${name}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(event)}\n\n`;
}

/**
 * Server-Sent Events. Messages use the default event type so `onmessage` sees only them;
 * control events are named. Every event that moves the cursor carries it as `id:`, which the
 * browser sends back as Last-Event-ID when it reconnects by itself.
 */
export const SSE_FORMAT: StreamFormat = {
  transport: 'sse',
  contentType: 'text/event-stream; charset=utf-8',
  preamble: `retry: ${RETRY_MS}\n\n`,
  // A comment line is the heartbeat proxies see; EventSource hides comments from scripts, so a
  // named `ping` event follows in the same block for clients that watch the heartbeat.
  ping: ': ping\nevent: ping\ndata: {}\n\n',
  connected: (event) => named('connected', event, event.cursor),
  message: (message, cursor) => framed(message, cursor, encode, shared),
  batch: (batch) => batch.encoded(sharedBatch),
  gap: (event) => named('gap', event, event.cursor),
  reconnect: (event) => named('reconnect', event),
  error: (event) => named('error', event),
};

export function sseTransport(context: TransportContext): Transport {
  return streamTransport(context, SSE_FORMAT, { name: 'sse', path: '/sse', cursorHeader: 'last-event-id' });
}
