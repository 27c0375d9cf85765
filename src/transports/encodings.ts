import type { CommandResult, OutboundMessage } from '../core/index.ts';
import type { CommandId } from '../protocol/index.ts';

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

/**
 * A whole WebSocket text frame (RFC 6455 §5.2: final, unmasked as servers send, no extension
 * bits), so that a message's frame is built once and written to every socket as one buffer.
 */
export function webSocketTextFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + length);
  frame[0] = 0x81;
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, header, 'utf8');
  return frame;
}

/**
 * The reply to a client's command: `{"id":…,"op":"reply",…outcome}`. Built by hand for
 * history, whose publications' data is JSON text already and must not be re-encoded, and for
 * subscribe, which every connection sends; channel names, epochs and cursors are made of
 * characters JSON never escapes (protocol/channel.ts, protocol/cursor.ts).
 */
export function replyJson(id: CommandId | undefined, result: CommandResult): string {
  const head = id === undefined ? '{"op":"reply"' : `{"id":${JSON.stringify(id)},"op":"reply"`;
  if (result.op === 'subscribe') {
    const { channel, epoch, offset, cursor } = result;
    return `${head},"channel":"${channel}","epoch":"${epoch}","offset":${offset},"cursor":"${cursor}"}`;
  }
  if (result.op !== 'history') {
    const { op: _op, ...fields } = result;
    const body = JSON.stringify(fields);
    return body === '{}' ? `${head}}` : `${head},${body.slice(1)}`;
  }
  const messages = result.publications
    .map((p) => `{"channel":"${p.channel}","offset":${p.offset},"epoch":"${p.epoch}","data":${p.data}}`)
    .join(',');
  return `${head},"channel":"${result.channel}","messages":[${messages}],"epoch":"${result.epoch}","offset":${result.offset}}`;
}
