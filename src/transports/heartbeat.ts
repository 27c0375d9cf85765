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
  /** The peer was silent past interval + timeout, or stopped draining: close it. */
  timedOut(): void;
  /**
   * Asked once per interval: true when what was written to the connection has stopped
   * draining for long enough that its peer is taken for dead (the wheel then calls timedOut).
   */
  stalled?(): boolean;
}

export interface HeartbeatOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/**
 * One timer for every connection of the node, instead of one per connection. It ticks five
 * times per interval and pings:
 * - one-way streams (SSE, NDJSON) that wrote nothing for an interval: a message counts as a
 *   heartbeat, so busy streams are never pinged;
 * - answering peers (WebSocket) that were not heard from for an interval, busy or not: a peer
 *   only speaks when asked, and an unasked peer must not be taken for a dead one.
 * Answering peers silent for longer than interval + timeout are closed, and so is every
 * connection whose written bytes stopped draining (see Beating.stalled): a one-way stream's
 * peer never answers, and one that vanished without a FIN is found no other way.
 */
export class HeartbeatWheel {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Increments every tick; connections stamp it on each write (cheaper than a clock read). */
  tick = 0;
  /** Heartbeats sent so far, for /metrics. */
  pingsSent = 0;
  private readonly members = new Map<Beating, number>();
  private readonly tickMs: number;
  private readonly ticksPerInterval: number;
  private timer: NodeJS.Timeout | null = null;
  /** The turn being taken: its tick, deadlines and whether it checks for stalls. */
  private turnTick = 0;
  private deadline = 0;
  private quietSince = 0;
  private sweep = false;

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
    // The value is the tick of the member's last ping.
    this.members.set(member, this.tick);
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
    const tick = ++this.tick;
    const now = Date.now();
    this.turnTick = tick;
    this.deadline = now - this.intervalMs - this.timeoutMs;
    this.quietSince = now - this.intervalMs;
    this.sweep = tick % this.ticksPerInterval === 0;
    // forEach, not for..of: each entry of a Map's for..of is a new [key, value] array, one per
    // connection and tick, and that garbage alone kept an idle node's young generation from
    // shrinking.
    this.members.forEach(this.visit);
    if (this.members.size === 0) this.stop();
  }

  /** One member in this turn (an arrow, made once: forEach's callback allocates nothing). */
  private readonly visit = (pingedAt: number, member: Beating): void => {
    const tick = this.turnTick;
    const seen = member.lastSeenAt;
    if ((seen !== null && seen < this.deadline) || (this.sweep && member.stalled?.())) {
      this.members.delete(member);
      member.timedOut();
      return;
    }
    const due =
      seen === null
        ? tick - member.lastWriteTick >= this.ticksPerInterval
        : seen <= this.quietSince && tick - pingedAt >= this.ticksPerInterval;
    if (due) {
      member.lastWriteTick = tick;
      this.members.set(member, tick);
      this.pingsSent++;
      member.ping();
    }
  };
}
