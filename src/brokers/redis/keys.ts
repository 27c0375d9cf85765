import type { Publication } from '../../protocol/index.ts';

/** Every Redis name one channel uses. */
export interface ChannelKeys {
  /** HASH: epoch, offset, ttl (the history TTL of the latest publish). */
  readonly meta: string;
  /** STREAM: the channel's history; entry id `<offset>-0`, fields `t` (time) and `d` (data). */
  readonly stream: string;
  /** HASH clientId -> PresenceInfo JSON. */
  readonly presence: string;
  /** ZSET clientId by expiry time (ms). */
  readonly presenceExpiry: string;
  /** The pub/sub channel its publications travel on. */
  readonly pubsub: string;
}

const PUBSUB_SUFFIX = '}:pub';

/**
 * All names share the hash tag `{prefix:channel}`: Redis Cluster puts a channel's keys (and
 * its shard channel) on one slot, which a script that touches them all requires.
 */
export function channelKeys(prefix: string, channel: string): ChannelKeys {
  const tag = `{${prefix}:${channel}`;
  return {
    meta: `${tag}}:meta`,
    stream: `${tag}}:stream`,
    presence: `${tag}}:presence`,
    presenceExpiry: `${tag}}:presence-expiry`,
    pubsub: `${tag}${PUBSUB_SUFFIX}`,
  };
}

/** The channel of a pub/sub name made by `channelKeys`, or null if it isn't one of ours. */
export function channelOfPubsub(prefix: string, name: string): string | null {
  const head = `{${prefix}:`;
  if (!name.startsWith(head) || !name.endsWith(PUBSUB_SUFFIX)) return null;
  return name.slice(head.length, name.length - PUBSUB_SUFFIX.length);
}

/**
 * Decodes `<offset> <epoch> <time> <data>` (written by publish.lua). The data stays the text
 * it was published as: receivers never JSON-parse it.
 */
export function decodePayload(channel: string, payload: string): Publication | null {
  const first = payload.indexOf(' ');
  const second = payload.indexOf(' ', first + 1);
  const third = payload.indexOf(' ', second + 1);
  if (first < 1 || second < 0 || third < 0) return null;
  const offset = Number(payload.slice(0, first));
  const time = Number(payload.slice(second + 1, third));
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(time)) return null;
  return { channel, offset, epoch: payload.slice(first + 1, second), data: payload.slice(third + 1), time };
}
