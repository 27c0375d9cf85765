import { assertChannel } from './channel.ts';
import { type Cursor, decodeCursor } from './cursor.ts';
import { asPushwireError, type ErrorCode, PushwireError } from './errors.ts';
import { type JsonFields, scanJsonObject } from './json-scan.ts';
import { fieldValue, validatePublication } from './publication.ts';

/** A request id chosen by the client and echoed in the reply. */
export type CommandId = number | string;

export type ClientCommand =
  | { op: 'subscribe'; id?: CommandId; channel: string; cursor?: Cursor }
  | { op: 'unsubscribe'; id?: CommandId; channel: string }
  | { op: 'publish'; id?: CommandId; channel: string; data: string }
  | { op: 'history'; id?: CommandId; channel: string; limit?: number; cursor?: Cursor }
  | { op: 'presence'; id?: CommandId; channel: string }
  | { op: 'refresh'; id?: CommandId; token: string }
  | { op: 'pong'; id?: CommandId };

/** Longer tokens are refused before any check (a JWT with a few claims is well under 1 KiB). */
export const MAX_TOKEN_LENGTH = 8192;

export type ParsedCommand =
  | { ok: true; command: ClientCommand }
  | { ok: false; id: CommandId | undefined; error: PushwireError };

const MAX_ID_LENGTH = 64;

/**
 * Parses one untrusted WebSocket text frame; never throws. The frame is scanned once: a
 * publish's `data` keeps its raw text (see json-scan.ts), the other fields are parsed. Give
 * `maxMessageBytes` to refuse a publish whose data is larger, as the HTTP publish does.
 */
export function parseClientCommand(
  text: string,
  maxMessageBytes: number = Number.POSITIVE_INFINITY,
): ParsedCommand {
  const scanned = scanJsonObject(text);
  if (!scanned.ok) {
    return {
      ok: false,
      id: undefined,
      error: new PushwireError('invalid_json', `the frame is not valid JSON: ${scanned.reason}`),
    };
  }
  if (scanned.value === null) {
    return {
      ok: false,
      id: undefined,
      error: new PushwireError('invalid_request', 'a command must be a JSON object'),
    };
  }
  const frame = scanned.value;
  const id = frame.duplicateKey === 'id' ? undefined : readId(fieldValue(frame.fields, 'id'));
  try {
    return { ok: true, command: toCommand(frame, id, maxMessageBytes) };
  } catch (error) {
    return { ok: false, id, error: asPushwireError(error) };
  }
}

function readId(value: unknown): CommandId | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.length <= MAX_ID_LENGTH) return value;
  return undefined;
}

function toCommand(frame: JsonFields, id: CommandId | undefined, maxMessageBytes: number): ClientCommand {
  const { fields, duplicateKey } = frame;
  if (duplicateKey !== null) {
    throw new PushwireError('invalid_request', `"${duplicateKey.slice(0, 64)}" is given twice`);
  }
  if (fields.has('id') && id === undefined) {
    throw new PushwireError(
      'invalid_request',
      `"id" must be a number or a string of at most ${MAX_ID_LENGTH} characters`,
    );
  }
  const field = (name: string) => fieldValue(fields, name);
  const op = field('op');
  switch (op) {
    case 'pong':
      return { op, id };
    case 'refresh':
      return { op, id, token: tokenOf(field('token')) };
    case 'subscribe': {
      const channel = channelOf(field('channel'));
      const cursor = cursorOf(field('cursor'));
      return cursor ? { op, id, channel, cursor } : { op, id, channel };
    }
    case 'unsubscribe':
    case 'presence':
      return { op, id, channel: channelOf(field('channel')) };
    case 'publish': {
      const { channel, data } = validatePublication(field('channel'), fields.get('data'), maxMessageBytes);
      return { op, id, channel, data };
    }
    case 'history': {
      const channel = channelOf(field('channel'));
      const limit = field('limit');
      if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0)) {
        throw new PushwireError('invalid_request', '"limit" must be a non-negative integer');
      }
      const cursor = cursorOf(field('cursor'));
      return { op, id, channel, ...(limit === undefined ? {} : { limit }), ...(cursor ? { cursor } : {}) };
    }
    default:
      throw new PushwireError(
        typeof op === 'string' ? 'unknown_op' : 'invalid_request',
        typeof op === 'string' ? `unknown op "${op.slice(0, 32)}"` : 'a command needs a string "op"',
      );
  }
}

/** A token as a client hands it over: a non-empty string of bounded length, checked later. */
export function tokenOf(token: unknown): string {
  if (typeof token !== 'string' || token === '' || token.length > MAX_TOKEN_LENGTH) {
    throw new PushwireError(
      'invalid_request',
      `"token" must be a string of 1 to ${MAX_TOKEN_LENGTH} characters`,
    );
  }
  return token;
}

function channelOf(channel: unknown): string {
  assertChannel(channel);
  return channel;
}

/** An optional cursor field: absent or null is none. */
function cursorOf(value: unknown): Cursor | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new PushwireError('invalid_cursor', 'cursor must be a string');
  return decodeCursor(value);
}

/** `{"id":..,"op":"error",...}`: the WebSocket form of an error. */
export function encodeErrorFrame(id: CommandId | undefined, code: ErrorCode, message: string): string {
  return JSON.stringify(
    id === undefined ? { op: 'error', code, message } : { id, op: 'error', code, message },
  );
}

export function encodeReplyFrame(id: CommandId | undefined, body: Record<string, unknown>): string {
  return JSON.stringify(id === undefined ? { op: 'reply', ...body } : { id, op: 'reply', ...body });
}
