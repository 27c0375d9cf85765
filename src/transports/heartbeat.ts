/** A connection the heartbeat wheel looks after. */
export interface Beating {
  /** The wheel's tick at the connection's last write: a write is a heartbeat too. */
  lastWriteTick: number;
  /** Sends a heartbeat. */
  ping(): void;
  /**
   * For peers that must answer (WebSocket): the time (ms) the peer was last heard from, or
   * null for one-way streams whose death the socket itself reports.
   */
  lastSeenAt: number | null;
  /** The peer was silent past interval + timeout: close it. */
  timedOut(): void;
}

export interface HeartbeatOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * One timer for every connection of the node, instead of one per connection: it ticks five
 * times per interval, pings the connections that wrote nothing for an interval (a message
 * counts as a heartbeat, so busy connections are never pinged) and closes answering peers
 * silent for longer than interval + timeout.
 */
export class HeartbeatWheel {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Increments every tick; connections stamp it on each write (cheaper than a clock read). */
  tick = 0;
  private readonly members = new Set<Beating>();
  private readonly tickMs: number;
  private readonly ticksPerInterval: number;
  private timer: NodeJS.Timeout | null = null;

  constructor({ intervalMs, timeoutMs }: HeartbeatOptions) {
    this.intervalMs = intervalMs;
    this.timeoutMs = timeoutMs;
    this.tickMs = Math.max(10, Math.floor(Math.min(intervalMs, timeoutMs) / 5));
    this.ticksPerInterval = Math.max(1, Math.round(intervalMs / this.tickMs));
  }

  get size(): number {
    return this.members.size;
  }

  add(member: Beating): void {
    member.lastWriteTick = this.tick;
    this.members.add(member);
    if (!this.timer) this.timer = setInterval(() => this.turn(), this.tickMs);
  }

  remove(member: Beating): void {
    this.members.delete(member);
    if (this.members.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private turn(): void {
    this.tick += 1;
    const now = Date.now();
    const deadline = now - this.intervalMs - this.timeoutMs;
    for (const member of this.members) {
      if (member.lastSeenAt !== null && member.lastSeenAt < deadline) {
        this.members.delete(member);
        member.timedOut();
      } else if (this.tick - member.lastWriteTick >= this.ticksPerInterval) {
        member.lastWriteTick = this.tick;
        member.ping();
      }
    }
    if (this.members.size === 0) this.stop();
  }
}
