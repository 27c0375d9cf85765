import { PushwireError } from './errors.ts';

export const MAX_CHANNEL_LENGTH = 200;

// `~` separates cursor fields and must never appear in a name; the charset also keeps
// names safe in URLs, HTTP headers and Redis keys without escaping. A namespace starting with
// `$` is the server's own (see isSystemChannel); such a channel always names its namespace.
const CHANNEL_PATTERN =
  /^(?:[A-Za-z0-9_.@=-]+(?::[A-Za-z0-9_.@=:-]+)?|\$[A-Za-z0-9_.@=-]+:[A-Za-z0-9_.@=:-]+)$/;

/** Throws `invalid_channel` unless `name` is a valid channel name. */
export function assertChannel(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PushwireError('invalid_channel', 'channel must be a non-empty string');
  }
  if (name.length > MAX_CHANNEL_LENGTH) {
    throw new PushwireError('invalid_channel', `channel is longer than ${MAX_CHANNEL_LENGTH} characters`);
  }
  if (!CHANNEL_PATTERN.test(name)) {
    throw new PushwireError(
      'invalid_channel',
      `invalid channel "${name.slice(0, 64)}": use letters, digits and _ . @ = -, with an optional "namespace:" prefix`,
    );
  }
}

/** The namespace of `ns:name` is `ns`; a channel without a colon has none (null). */
export function namespaceOf(channel: string): string | null {
  const colon = channel.indexOf(':');
  return colon === -1 ? null : channel.slice(0, colon);
}

/**
 * Channels of a namespace starting with `$` (`$admin:stats`) are the server's own: only the
 * server publishes there, and only credentials the server issued for them may read them.
 * No channel an application used before could start with `$`.
 */
export function isSystemChannel(channel: string): boolean {
  return channel.charCodeAt(0) === 36; // '$'
}
