import type { ClusterView } from '../brokers/index.ts';
import { PushwireError } from '../protocol/index.ts';

/**
 * Which users' tokens are revoked, as connection auth asks it: at once, from memory. A
 * disconnect of a user (POST /api/disconnect) refuses that user's tokens issued at or before
 * it, on every node, for the revocation TTL; tokens issued later work.
 *
 * Each node keeps every live revocation in memory. A revocation is written to the cluster's
 * store first, then told to every node over the control bus (`learn`) before any connection
 * is ended, so that a client cut off on one node can't reconnect on another that hasn't heard
 * yet; every node also re-reads the store now and then (a node that joins or missed the bus).
 */
export interface RevocationCheck {
  /**
   * Throws `disconnected` when the tokens of `userId` issued at `issuedAt` (JWT `iat`, in
   * seconds) are revoked. A token without `iat` counts as issued before any revocation.
   */
  assertNotRevoked(userId: string, issuedAt: number | undefined): void;
}

const SYNC_INTERVAL_MS = 30_000;

export class Revocations implements RevocationCheck {
  private readonly revokedAt = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly cluster: ClusterView,
    private readonly ttlMs: number,
    private readonly report: (stage: string, error: unknown) => void,
  ) {}

  /** Reads the store now and every little while. */
  async start(): Promise<void> {
    await this.sync().catch((error) => this.report('revocations', error));
    this.timer = setInterval(() => {
      this.sync().catch((error) => this.report('revocations', error));
    }, SYNC_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Records a revocation in the cluster's store and in this node's memory. */
  async revoke(userId: string, atMs: number): Promise<void> {
    await this.cluster.revocations.add(userId, atMs, this.ttlMs);
    this.learn(userId, atMs);
  }

  /** A revocation another node made (told over the control bus). */
  learn(userId: string, atMs: number): void {
    if ((this.revokedAt.get(userId) ?? 0) < atMs) this.revokedAt.set(userId, atMs);
  }

  isRevoked(userId: string, issuedAt: number | undefined): boolean {
    const at = this.revokedAt.get(userId);
    if (at === undefined) return false;
    if (Date.now() - at > this.ttlMs) {
      this.revokedAt.delete(userId);
      return false;
    }
    // `iat` has whole seconds: a token of the revocation's own second may be older than it.
    return issuedAt === undefined || issuedAt <= Math.floor(at / 1000);
  }

  assertNotRevoked(userId: string, issuedAt: number | undefined): void {
    if (this.isRevoked(userId, issuedAt)) {
      throw new PushwireError('disconnected', 'this user was disconnected: connect with a new token');
    }
  }

  private async sync(): Promise<void> {
    for (const [userId, at] of await this.cluster.revocations.list()) this.learn(userId, at);
  }
}
