import type { IncomingMessage } from 'node:http';
import {
  assertChannel,
  type Cursor,
  decodeCursor,
  type PublishInput,
  PushwireError,
  readPublication,
} from '../protocol/index.ts';

/** Names the connection a reconnecting client replaces, with the key it was given for it. */
export interface ReplaceTarget {
  readonly clientId: string;
  readonly key: string;
}

/** Longer than any clientId or replace key the server hands out. */
const MAX_REPLACE_PARAM_LENGTH = 256;

/** `?replaces=<clientId>&replaceKey=<key>` of a connection request: both or neither. */
export function readReplaceTarget(query: URLSearchParams): ReplaceTarget | null {
  const clientId = query.get('replaces');
  const key = query.get('replaceKey');
  if (clientId === null && key === null) return null;
  if (
    !clientId ||
    !key ||
    clientId.length > MAX_REPLACE_PARAM_LENGTH ||
    key.length > MAX_REPLACE_PARAM_LENGTH
  ) {
    throw new PushwireError(
      'invalid_request',
      'replaces needs the replaceKey of the connection it names: ?replaces=<clientId>&replaceKey=<key>',
    );
  }
  return { clientId, key };
}

/** What a GET subscribe request asks for. */
export interface SubscribeQuery {
  readonly channels: readonly string[];
  readonly cursor: Cursor | null;
  /** Long poll: false (`?wait=0`) answers at once even when nothing is past the cursor. */
  readonly wait: boolean;
  /** Long poll: false (`?cursors=0`) lists messages without their cursors. */
  readonly messageCursors: boolean;
}

/** The channels and cursor of a GET subscribe request (SSE, stream, long poll), validated. */
export function readSubscribeQuery(
  req: IncomingMessage,
  query: URLSearchParams,
  maxChannels: number,
  /** A header that names the cursor and wins over `?cursor=` (SSE's Last-Event-ID), if any. */
  cursorHeader: string | null,
): SubscribeQuery {
  const channels = query.getAll('channel');
  if (channels.length === 0)
    throw new PushwireError('invalid_request', 'give at least one channel: ?channel=NAME');
  if (channels.length > maxChannels) {
    throw new PushwireError('too_many_channels', `at most ${maxChannels} channels per connection`);
  }
  if (channels.length === 1) {
    assertChannel(channels[0]!);
  } else {
    const seen = new Set<string>();
    for (const channel of channels) {
      assertChannel(channel);
      if (seen.has(channel))
        throw new PushwireError('invalid_request', `channel "${channel}" is given twice`);
      seen.add(channel);
    }
  }
  const header = cursorHeader === null ? undefined : req.headers[cursorHeader];
  const text = (typeof header === 'string' && header !== '' ? header : null) ?? query.get('cursor');
  return {
    channels,
    cursor: text ? cursorOf(text) : null,
    wait: readFlag('wait', query.get('wait')),
    messageCursors: readFlag('cursors', query.get('cursors')),
  };
}

/** Cursors up to this long are remembered once decoded: a few channels' worth. */
const MAX_REMEMBERED_CURSOR_LENGTH = 256;
const MAX_REMEMBERED_CURSORS = 1_024;
/**
 * Decoded cursors by their text. The long pollers of a channel come back with the cursors of
 * its latest few messages, so nearly every poll finds its cursor here instead of parsing and
 * validating it again. Bounded in count and length, and emptied when full, so that cursors an
 * attacker makes up cost at most a few hundred KB and never grow it.
 */
const rememberedCursors = new Map<string, Cursor>();

function cursorOf(text: string): Cursor {
  const remembered = rememberedCursors.get(text);
  if (remembered) return remembered;
  // An invalid cursor throws here and is never remembered.
  const cursor = decodeCursor(text);
  if (text.length <= MAX_REMEMBERED_CURSOR_LENGTH) {
    if (rememberedCursors.size >= MAX_REMEMBERED_CURSORS) rememberedCursors.clear();
    rememberedCursors.set(text, cursor);
  }
  return cursor;
}

/** A flag of the query (`?wait=`, `?cursors=`): absent or `1` is on, `0` off; anything else is refused. */
function readFlag(name: string, text: string | null): boolean {
  if (text === null || text === '1') return true;
  if (text === '0') return false;
  throw new PushwireError('invalid_request', `${name} must be 0 or 1`);
}

/** Room in a publish body for everything around `data`: `{"channel": ..., "data": }` and spacing. */
export const PUBLISH_ENVELOPE_BYTES = 1024;

/** `POST /publish` (a client's): one publication, `data` kept as the publisher sent it. */
export async function readPublishRequest(
  req: IncomingMessage,
  maxMessageBytes: number,
): Promise<PublishInput> {
  const text = await readPublishText(req, maxMessageBytes + PUBLISH_ENVELOPE_BYTES);
  return readPublication(text, maxMessageBytes);
}

/**
 * The text of a publish body of at most `limit` bytes, for protocol's `readPublication` or
 * `readPublications`: `application/json` (415 otherwise) and valid UTF-8 (`invalid_json`).
 */
export async function readPublishText(req: IncomingMessage, limit: number): Promise<string> {
  assertJsonMediaType(req.headers['content-type']);
  return decodeUtf8(await readBody(req, limit));
}

// curl -d sends JSON labelled as a form: only multipart bodies, which can't be JSON, are
// refused. Publish bodies are stricter (readPublishText): they are what a page on another
// origin could send without credentials; these bodies need an Authorization header anyway.
const FORM_TYPES = /^multipart\/form-data/i;

/** A JSON body other than a publish (e.g. `/api/disconnect`) of at most `limit` bytes, parsed. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (FORM_TYPES.test(req.headers['content-type'] ?? '')) {
    throw new PushwireError('unsupported_media_type', 'send the body as application/json');
  }
  const text = decodeUtf8(await readBody(req, limit));
  try {
    return JSON.parse(text);
  } catch {
    throw new PushwireError('invalid_json', 'the body is not valid JSON');
  }
}

/**
 * Only `application/json` (RFC 8259: always UTF-8, so a charset may only say so). Anything
 * else, a missing type included, is refused: text/plain, form and multipart bodies are what a
 * page on another origin can POST without a CORS preflight, and JSON is what the docs promise.
 */
function assertJsonMediaType(header: string | undefined): void {
  if (header === 'application/json') return; // what nearly every publisher sends
  const [type = '', ...parameters] = (header ?? '').split(';');
  const charset = parameters
    .map((parameter) => parameter.trim().toLowerCase())
    .find((parameter) => parameter.startsWith('charset='));
  const json = type.trim().toLowerCase() === 'application/json';
  if (!json || (charset !== undefined && !/^charset="?utf-8"?$/.test(charset))) {
    throw new PushwireError(
      'unsupported_media_type',
      `send the body as Content-Type: application/json${header ? ` (not ${header.slice(0, 64)})` : ''}`,
    );
  }
}

/**
 * A body of at most `limit` bytes; refuses more without keeping it (the rest flows by unread
 * while the refusal is answered, with `Connection: close`: routes.ts). A client that leaves
 * mid-body rejects it with ERR_STREAM_PREMATURE_CLOSE. Read with listeners, not `for await`:
 * an async iterator and its end-of-stream watch cost more than reading the one chunk a
 * publish nearly always is.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new PushwireError('payload_too_large', `the body is larger than ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  if (req.destroyed) return Promise.reject(prematureClose());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: Error | null) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', settle);
      req.off('close', onClose);
      if (error) reject(error);
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      settle(tooLarge());
    };
    const onEnd = () => settle(null);
    const onClose = () => settle(prematureClose());
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', settle);
    req.on('close', onClose);
  });
}

function prematureClose(): Error {
  return Object.assign(new Error('the client left before sending the whole body'), {
    code: 'ERR_STREAM_PREMATURE_CLOSE',
  });
}

// fatal: a body that is not UTF-8 is refused, not silently patched with U+FFFD. A leading
// byte order mark is dropped (the default), as RFC 8259 section 8.1 allows.
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new PushwireError('invalid_json', 'the body is not valid UTF-8');
  }
}
