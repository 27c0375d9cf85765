import type { ServerResponse } from 'node:http';
import { concatEncoded, type OutboundBatch, type OutboundMessage } from '../core/index.ts';
import { framed, messageJson, sharedEncoder } from './encodings.ts';
import { type StreamFormat, serveStream } from './http-stream.ts';
import type { SubscribeParams, TransportContext } from './types.ts';

const encode = (message: OutboundMessage, cursor: string) => `${messageJson(message, cursor, true)}\n`;
const shared = sharedEncoder(encode);
const sharedBatch = (batch: OutboundBatch) => concatEncoded(batch, shared);

/** HTTP streaming: chunked NDJSON, one event per line, for clients that can't use SSE. */
export const NDJSON_FORMAT: StreamFormat = {
  transport: 'stream',
  contentType: 'application/x-ndjson; charset=utf-8',
  preamble: '',
  ping: '{"op":"ping"}\n',
  connected: (event) => `${JSON.stringify(event)}\n`,
  message: (message, cursor) => framed(message, cursor, encode, shared),
  batch: (batch) => batch.encoded(sharedBatch),
  gap: (event) => `${JSON.stringify(event)}\n`,
  reconnect: (event) => `${JSON.stringify(event)}\n`,
};

export function serveNdjsonStream(
  context: TransportContext,
  res: ServerResponse,
  params: SubscribeParams,
): Promise<void> {
  return serveStream(context, NDJSON_FORMAT, res, params);
}
