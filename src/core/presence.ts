import type { PresenceInfo, PresenceStore } from '../brokers/types.ts';

const DEFAULT_TTL_MS = 60_000;

/** A local subscriber as presence lists it. */
export interface PresenceMember {
  readonly id: string;
  readonly userId: string | null;
  readonly connectedAt: number;
}

/**
 * Who is on which channel, kept in the broker's presence store so that every node sees every
 * node's clients. Entries expire after `ttlMs` unless refreshed, so the clients of a node that
 * died without a word drop out; this node refreshes its own every third of that.
 */
export class Presence {
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: PresenceStore,
    private readonly report: (stage: string, error: unknown) => void,
    ttlMs: number | undefined,
  ) {
    this.ttlMs = ttlMs ?? DEFAULT_TTL_MS;
  }

  /** Refreshes, every third of the TTL, the entries `current` lists. */
  start(current: () => Iterable<[channel: string, members: Iterable<PresenceMember>]>): void {
    this.timer = setInterval(
      () => {
        for (const [channel, members] of current()) for (const member of members) this.join(channel, member);
      },
      Math.max(1000, this.ttlMs / 3),
    );
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  join(channel: string, member: PresenceMember): void {
    const info: PresenceInfo = {
      clientId: member.id,
      userId: member.userId,
      connectedAt: member.connectedAt,
    };
    this.store.join(channel, info, this.ttlMs).catch((error) => this.report('presence', error));
  }

  leave(channel: string, member: PresenceMember): void {
    this.store.leave(channel, member.id).catch((error) => this.report('presence', error));
  }

  list(channel: string): Promise<PresenceInfo[]> {
    return this.store.list(channel);
  }
}
