import { PushwireError } from '../protocol/index.ts';
import type { Expiring, ExpiryWheel } from './expiry.ts';
import type { CloseRequest, Identity } from './types.ts';

/** The part of the hub that credentials use. */
export interface CredentialsHost {
  /** Credentials stay good this long past their expiry, for clocks that disagree. */
  readonly clockSkewMs: number;
  /** Ends sessions when their credentials expire. */
  readonly expiries: ExpiryWheel;
}

const EXPIRED: CloseRequest = Object.freeze({
  code: 'token_expired',
  reason: 'the token has expired: reconnect with a new token',
  reconnectDelayMs: 0,
});

/**
 * A connection's credentials: who it is, the rights of its latest token, and when they stop
 * being good. The connection ends with token_expired at that deadline (the hub's expiry
 * wheel), or sooner when a check finds it passed (the wheel may run late on a busy node).
 */
export class Credentials implements Expiring {
  private current: Identity;
  /** When the credentials stop being good (expiry + clock skew, ms); null: never. */
  private deadline: number | null = null;

  constructor(
    identity: Identity,
    private readonly host: CredentialsHost,
    /** The connection, which `end` ends (an object, not a closure: one fewer per connection). */
    private readonly connection: { end(request: CloseRequest): void },
  ) {
    this.current = identity;
    this.schedule();
  }

  get identity(): Identity {
    return this.current;
  }

  /** When the credentials expire (ms since the epoch); null when they don't. */
  get expiresAt(): number | null {
    return this.current.expiresAt ?? null;
  }

  /**
   * New credentials of the same user replace these: their expiry and their rights. Throws
   * `forbidden` for another user's credentials, keeping the old ones.
   */
  replace(identity: Identity): void {
    if (identity.userId !== this.current.userId) {
      throw new PushwireError('forbidden', "the new token names another user (sub) than the connection's");
    }
    this.current = identity;
    this.schedule();
  }

  /** Ends the connection when the credentials are past their deadline; true if it did. */
  endIfPast(): boolean {
    if (this.deadline === null || Date.now() < this.deadline) return false;
    this.connection.end(EXPIRED);
    return true;
  }

  /** Ends the connection when the credentials are past their deadline, and throws then. */
  assertFresh(): void {
    if (this.endIfPast()) throw new PushwireError('token_expired');
  }

  /** The connection is closed: no deadline to keep. */
  stop(): void {
    this.host.expiries.remove(this);
  }

  /** The wheel's call at the deadline. */
  expire(): void {
    this.connection.end(EXPIRED);
  }

  /** Puts the credentials in the host's expiry wheel at their deadline. */
  private schedule(): void {
    const expiresAt = this.current.expiresAt;
    this.deadline = expiresAt === undefined || expiresAt === null ? null : expiresAt + this.host.clockSkewMs;
    if (this.deadline === null) this.host.expiries.remove(this);
    else this.host.expiries.add(this, this.deadline);
  }
}
