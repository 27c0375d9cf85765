import type { IncomingMessage } from 'node:http';
import { assertChannel, type Cursor, decodeCursor, PushwireError } from '../protocol/index.ts';

/** The channels and cursor of a GET subscribe request (SSE, stream, long poll), validated. */
export function readSubscribeQuery(
  req: IncomingMessage,
  query: URLSearchParams,
  maxChannels: number,
  /** A header that names the cursor and wins over `?cursor=` (SSE's Last-Event-ID), if any. */
  cursorHeader: string | null,
): { channels: string[]; cursor: Cursor | null } {
  const channels = query.getAll('channel');
  if (channels.length === 0)
    throw new PushwireError('invalid_request', 'give at least one channel: ?channel=NAME');
  if (channels.length > maxChannels) {
    throw new PushwireError('too_many_channels', `at most ${maxChannels} channels per connection`);
  }
  const seen = new Set<string>();
  for (const channel of channels) {
    assertChannel(channel);
    if (seen.has(channel)) throw new PushwireError('invalid_request', `channel "${channel}" is given twice`);
    seen.add(channel);
  }
  const header = cursorHeader === null ? undefined : req.headers[cursorHeader];
  const text = (typeof header === 'string' && header !== '' ? header : null) ?? query.get('cursor');
  return { channels, cursor: text ? decodeCursor(text) : null };
}

// curl -d sends JSON labelled as a form: only multipart bodies, which can't be JSON, are refused.
const FORM_TYPES = /^multipart\/form-data/i;

/** Reads a JSON body of at most `limit` bytes; refuses more without reading it all. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (FORM_TYPES.test(type)) {
    throw new PushwireError('unsupported_media_type', 'send the body as application/json');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new PushwireError('payload_too_large', `the body is larger than ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new PushwireError('payload_too_large', `the body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new PushwireError('invalid_json', 'the body is not valid JSON');
  }
}

/** `{"channel": "...", "data": ...}` with the data re-serialized once, size-checked. */
export function readPublishBody(body: unknown, maxMessageBytes: number): { channel: string; data: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PushwireError(
      'invalid_request',
      'the body must be a JSON object {"channel": ..., "data": ...}',
    );
  }
  const { channel, data } = body as { channel?: unknown; data?: unknown };
  assertChannel(channel);
  if (data === undefined)
    throw new PushwireError('invalid_request', 'the body needs "data" (any JSON value)');
  const text = JSON.stringify(data);
  if (Buffer.byteLength(text) > maxMessageBytes) {
    throw new PushwireError('payload_too_large', `data is larger than ${maxMessageBytes} bytes`);
  }
  return { channel, data: text };
}
