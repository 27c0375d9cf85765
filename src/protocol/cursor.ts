import { assertChannel } from './channel.ts';
import { PushwireError } from './errors.ts';
import type { StreamPosition } from './message.ts';

/**
 * A cursor is a client's position on every channel of its connection, as one opaque string
 * that is safe in a URL query, an HTTP header (SSE `Last-Event-ID`) and JSON without escaping:
 *
 *   "1" ("~" channel "~" epoch "~" offset)*
 *
 * Clients MUST treat it as opaque; the leading "1" is the format version. It is built from
 * per-channel segments so that a server can compose a connection's cursor by concatenation,
 * without encoding anything per subscriber on the fan-out path.
 */
export type Cursor = ReadonlyMap<string, StreamPosition>;

const VERSION = '1';
export const MAX_CURSOR_LENGTH = 16_384;
const EPOCH_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const EMPTY_CURSOR = VERSION;

export function cursorSegment(channel: string, epoch: string, offset: number): string {
  return `~${channel}~${epoch}~${offset}`;
}

/** Joins the segments of `cursorSegment`, in the connection's channel order. */
export function composeCursor(segments: Iterable<string>): string {
  let out = VERSION;
  for (const segment of segments) out += segment;
  return out;
}

export function encodeCursor(positions: Cursor): string {
  let out = VERSION;
  for (const [channel, { epoch, offset }] of positions) out += cursorSegment(channel, epoch, offset);
  return out;
}

/** Parses an untrusted cursor; throws `invalid_cursor` with the reason. */
export function decodeCursor(text: string): Map<string, StreamPosition> {
  if (text.length > MAX_CURSOR_LENGTH) throw new PushwireError('invalid_cursor', 'cursor is too long');
  const fields = text.split('~');
  if (fields[0] !== VERSION) {
    throw new PushwireError('invalid_cursor', 'cursor is malformed (unknown format version)');
  }
  if ((fields.length - 1) % 3 !== 0) throw new PushwireError('invalid_cursor', 'cursor is malformed');
  const positions = new Map<string, StreamPosition>();
  for (let i = 1; i < fields.length; i += 3) {
    const channel = fields[i]!;
    const epoch = fields[i + 1]!;
    const offsetText = fields[i + 2]!;
    try {
      assertChannel(channel);
    } catch {
      throw new PushwireError('invalid_cursor', 'cursor names an invalid channel');
    }
    if (!EPOCH_PATTERN.test(epoch)) throw new PushwireError('invalid_cursor', 'cursor has an invalid epoch');
    if (!/^\d{1,16}$/.test(offsetText) || !Number.isSafeInteger(Number(offsetText))) {
      throw new PushwireError('invalid_cursor', 'cursor has an invalid offset');
    }
    if (positions.has(channel)) throw new PushwireError('invalid_cursor', 'cursor names a channel twice');
    positions.set(channel, { epoch, offset: Number(offsetText) });
  }
  return positions;
}

export function isValidEpoch(epoch: string): boolean {
  return EPOCH_PATTERN.test(epoch);
}
