import type { OutboundMessage } from '../core/index.ts';

/**
 * The message as JSON with its cursor: `{<fields>,"cursor":"…"}`, prefixed for the
 * WebSocket/stream form. Cursors are built from validated channel names and epochs and need
 * no escaping.
 */
export function messageJson(message: OutboundMessage, cursor: string, op: boolean): string {
  return op
    ? `{"op":"message",${message.fields},"cursor":"${cursor}"}`
    : `{${message.fields},"cursor":"${cursor}"}`;
}

/**
 * Bytes for `message` as `encode` frames it. The cursor of a one-channel connection is the
 * same for all of them, so those bytes are encoded once and shared; connections on several
 * channels get their own.
 */
export function framed(
  message: OutboundMessage,
  cursor: string,
  encode: (message: OutboundMessage, cursor: string) => string,
  shared: (message: OutboundMessage) => Buffer,
): Buffer | string {
  return cursor === message.soloCursor() ? message.encoded(shared) : encode(message, cursor);
}

/** Makes the shared-bytes encoder for `encode`, one per format (it is a cache key). */
export function sharedEncoder(
  encode: (message: OutboundMessage, cursor: string) => string,
): (message: OutboundMessage) => Buffer {
  return (message) => Buffer.from(encode(message, message.soloCursor()));
}
