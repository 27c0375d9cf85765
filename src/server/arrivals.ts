/**
 * A connection accepted within this long counts as arriving: a reconnect storm accepts
 * connections all the time, and each reads its first request within moments of its accept.
 */
export const ARRIVING_MS = 1000;

/**
 * When the server last accepted a connection. After a slow fan-out that only answered waiting
 * polls the hub rests only while connections arrive, to keep time for accepting them
 * (core/fan-out.ts).
 */
export class Arrivals {
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = () => performance.now()) {}

  arrived(): void {
    this.last = this.now();
  }

  readonly arriving = (): boolean => this.now() - this.last < ARRIVING_MS;
}
