import type { PresenceInfo, PresenceStore } from '../types.ts';
import type { RedisClient } from './connection.ts';
import type { ChannelKeys } from './keys.ts';
import { SCRIPTS } from './scripts.ts';

/** How the broker finds a channel's keys and connection, and turns Redis failures into errors. */
export interface PresenceRoute {
  locate(channel: string): { readonly client: RedisClient; readonly keys: ChannelKeys };
  guard<T>(operation: string, work: () => Promise<T>): Promise<T>;
}

/**
 * Presence shared by every node. Entries expire on their own (presence-join.lua), so the
 * clients of a node that died without saying goodbye vanish after their TTL; a live node keeps
 * its clients by joining again before the TTL runs out.
 */
export class RedisPresence implements PresenceStore {
  constructor(private readonly route: PresenceRoute) {}

  async join(channel: string, info: PresenceInfo, ttlMs: number): Promise<void> {
    const { client, keys } = this.route.locate(channel);
    const entry = JSON.stringify({
      clientId: info.clientId,
      userId: info.userId,
      connectedAt: info.connectedAt,
    });
    await this.route.guard('presence join', () =>
      SCRIPTS.presenceJoin.run(client, [keys.presence, keys.presenceExpiry], [info.clientId, entry, ttlMs]),
    );
  }

  async leave(channel: string, clientId: string): Promise<void> {
    const { client, keys } = this.route.locate(channel);
    await this.route.guard('presence leave', () =>
      client.multi().hdel(keys.presence, clientId).zrem(keys.presenceExpiry, clientId).exec(),
    );
  }

  async list(channel: string): Promise<PresenceInfo[]> {
    const { client, keys } = this.route.locate(channel);
    const entries = await this.route.guard('presence list', () =>
      SCRIPTS.presenceList.run(client, [keys.presence, keys.presenceExpiry], []),
    );
    if (!Array.isArray(entries)) return [];
    return entries.map((text) => JSON.parse(String(text)) as PresenceInfo);
  }
}
