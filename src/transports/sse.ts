import type { ServerResponse } from 'node:http';
import { concatEncoded, type OutboundBatch, type OutboundMessage } from '../core/index.ts';
import { framed, messageJson, sharedEncoder } from './encodings.ts';
import { type StreamFormat, serveStream } from './http-stream.ts';
import type { SubscribeParams, TransportContext } from './types.ts';

/** How long EventSource waits before it reconnects by itself after the stream ends. */
const RETRY_MS = 2000;

const encode = (message: OutboundMessage, cursor: string) =>
  `id: ${cursor}\ndata: ${messageJson(message, cursor, false)}\n\n`;
const shared = sharedEncoder(encode);
const sharedBatch = (batch: OutboundBatch) => concatEncoded(batch, shared);

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
  connected: ({ op: _op, ...event }) =>
    `event: connected\nid: ${event.cursor}\ndata: ${JSON.stringify(event)}\n\n`,
  message: (message, cursor) => framed(message, cursor, encode, shared),
  batch: (batch) => batch.encoded(sharedBatch),
  gap: ({ op: _op, ...event }) => `event: gap\nid: ${event.cursor}\ndata: ${JSON.stringify(event)}\n\n`,
  reconnect: ({ op: _op, ...event }) => `event: reconnect\ndata: ${JSON.stringify(event)}\n\n`,
};

export function serveSse(
  context: TransportContext,
  res: ServerResponse,
  params: SubscribeParams,
): Promise<void> {
  return serveStream(context, SSE_FORMAT, res, params);
}
