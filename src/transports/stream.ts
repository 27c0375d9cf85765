import { concatEncoded, type OutboundBatch, type OutboundMessage } from '../core/index.ts';
import { framed, messageJson, sharedEncoder } from './encodings.ts';
import { type StreamFormat, streamTransport } from './http-stream.ts';
import type { Transport, TransportContext } from './types.ts';

const encode = (message: OutboundMessage, cursor: string) => `${messageJson(message, cursor, true)}\n`;
const shared = sharedEncoder(encode);
const sharedBatch = (batch: OutboundBatch) => concatEncoded(batch, shared);
const line = (event: object) => `${JSON.stringify(event)}\n`;

/** HTTP streaming: chunked NDJSON, one event per line, for clients that can't use SSE. */
export const NDJSON_FORMAT: StreamFormat = {
  transport: 'stream',
  contentType: 'application/x-ndjson; charset=utf-8',
  preamble: '',
  ping: '{"op":"ping"}\n',
  connected: line,
  message: (message, cursor) => framed(message, cursor, encode, shared),
  batch: (batch) => batch.encoded(sharedBatch),
  gap: line,
  reconnect: line,
  error: line,
};

export function ndjsonStreamTransport(context: TransportContext): Transport {
  return streamTransport(context, NDJSON_FORMAT, { name: 'stream', path: '/stream', cursorHeader: null });
}
