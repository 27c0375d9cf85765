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
  /** HASH nodeId -> that node's subscriber count of the channel (see cluster.ts). */
  readonly occupancy: string;
  /** STRING: the last number of the channel's sequence of lifecycle events (occupancy.lua). */
  readonly sequence: string;
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
    occupancy: `${tag}}:occupancy`,
    sequence: `${tag}}:sequence`,
  };
}

/** The names of the cluster's control plane (see cluster.ts). */
export interface ClusterKeys {
  /** ZSET nodeId by lease expiry (ms, Redis's clock). */
  readonly leases: string;
  /** HASH nodeId -> NodeInfo JSON. */
  readonly infos: string;
  /** ZSET nodeId by claim expiry (ms): lost nodes a live node is telling of. */
  readonly claims: string;
  /** ZSET of the channels with subscribers somewhere, all scored 0: ordered by name. */
  readonly active: string;
  /** ZSET userId by the time (ms) their tokens were revoked. */
  readonly revoked: string;
  /** The pub/sub channel of the control bus. */
  readonly bus: string;
  /** HASH channel -> count: one node's subscriber counts, for whoever finds it lost. */
  nodeChannels(nodeId: string): string;
  /** HASH clientId -> user JSON: one node's connected clients, for whoever finds it lost. */
  nodeClients(nodeId: string): string;
}

/**
 * `#` is in no channel name, so these tags never meet a channel's. The cluster-wide names
 * share one slot (a script reads leases and infos together); each node's counts sit in a slot
 * of their own.
 */
export function clusterKeys(prefix: string): ClusterKeys {
  const tag = `{${prefix}:#cluster}`;
  return {
    leases: `${tag}:leases`,
    infos: `${tag}:infos`,
    claims: `${tag}:claims`,
    active: `${tag}:active`,
    revoked: `${tag}:revoked`,
    bus: `${tag}:bus`,
    nodeChannels: (nodeId) => `{${prefix}:#node:${nodeId}}:channels`,
    nodeClients: (nodeId) => `{${prefix}:#node:${nodeId}}:clients`,
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
