import { assertChannel } from './channel.ts';
import { type Cursor, decodeCursor } from './cursor.ts';
import { asPushwireError, type ErrorCode, PushwireError } from './errors.ts';

/** A request id chosen by the client and echoed in the reply. */
export type CommandId = number | string;

export type ClientCommand =
  | { op: 'subscribe'; id?: CommandId; channel: string; cursor?: Cursor }
  | { op: 'unsubscribe'; id?: CommandId; channel: string }
  | { op: 'publish'; id?: CommandId; channel: string; data: string }
  | { op: 'history'; id?: CommandId; channel: string; limit?: number; cursor?: Cursor }
  | { op: 'presence'; id?: CommandId; channel: string }
  | { op: 'pong'; id?: CommandId };

export type ParsedCommand =
  | { ok: true; command: ClientCommand }
  | { ok: false; id: CommandId | undefined; error: PushwireError };

const MAX_ID_LENGTH = 64;

/** Parses one untrusted WebSocket text frame; never throws. */
export function parseClientCommand(text: string): ParsedCommand {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, id: undefined, error: new PushwireError('invalid_json') };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return {
      ok: false,
      id: undefined,
      error: new PushwireError('invalid_request', 'a command must be a JSON object'),
    };
  }
  const frame = raw as Record<string, unknown>;
  const id = readId(frame.id);
  try {
    return { ok: true, command: toCommand(frame, id) };
  } catch (error) {
    return { ok: false, id, error: asPushwireError(error) };
  }
}

function readId(value: unknown): CommandId | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.length <= MAX_ID_LENGTH) return value;
  return undefined;
}

function toCommand(frame: Record<string, unknown>, id: CommandId | undefined): ClientCommand {
  if (frame.id !== undefined && id === undefined) {
    throw new PushwireError(
      'invalid_request',
      `"id" must be a number or a string of at most ${MAX_ID_LENGTH} characters`,
    );
  }
  const op = frame.op;
  switch (op) {
    case 'pong':
      return { op, id };
    case 'subscribe': {
      const channel = channelOf(frame);
      const cursor = frame.cursor === undefined || frame.cursor === null ? undefined : cursorOf(frame.cursor);
      return cursor ? { op, id, channel, cursor } : { op, id, channel };
    }
    case 'unsubscribe':
    case 'presence':
      return { op, id, channel: channelOf(frame) };
    case 'publish': {
      const channel = channelOf(frame);
      if (!('data' in frame) || frame.data === undefined) {
        throw new PushwireError('invalid_request', 'publish needs "data"');
      }
      return { op, id, channel, data: JSON.stringify(frame.data) };
    }
    case 'history': {
      const channel = channelOf(frame);
      const limit = frame.limit;
      if (limit !== undefined && (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0)) {
        throw new PushwireError('invalid_request', '"limit" must be a non-negative integer');
      }
      const cursor = frame.cursor === undefined || frame.cursor === null ? undefined : cursorOf(frame.cursor);
      return { op, id, channel, ...(limit === undefined ? {} : { limit }), ...(cursor ? { cursor } : {}) };
    }
    default:
      throw new PushwireError(
        typeof op === 'string' ? 'unknown_op' : 'invalid_request',
        typeof op === 'string' ? `unknown op "${op.slice(0, 32)}"` : 'a command needs a string "op"',
      );
  }
}

function channelOf(frame: Record<string, unknown>): string {
  const channel = frame.channel;
  assertChannel(channel);
  return channel;
}

function cursorOf(value: unknown): Cursor {
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
