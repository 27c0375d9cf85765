/** A connection's writer as the budget sees it. */
export interface BudgetMember {
  /** Bytes queued for the connection as of its last write (kept by the budget). */
  queuedKnown: number;
  /** Bytes queued now. */
  queued(): number;
  /** Cuts the connection as a slow consumer, freeing what it has queued. */
  cut(): void;
}

/** How often the budget may look at every connection when the running estimate is over it. */
const RECOUNT_INTERVAL_MS = 50;

/**
 * The bytes queued for sending over all push connections, held within `maxBytes`
 * (--max-outbound-memory). Each write tells the budget what its connection has queued; the
 * sum of those is an estimate that only errs high (sockets drain unseen between writes).
 * Past the budget, every connection is counted exactly, and if the total is still over it the
 * connections with the most queued, the slowest readers, are cut until it fits.
 */
export class OutboundBudget {
  /** Connections cut to stay within the budget. */
  cuts = 0;
  private readonly members = new Set<BudgetMember>();
  private estimate = 0;
  private lastRecount = Number.NEGATIVE_INFINITY;

  constructor(
    readonly maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes queued over all connections as of their last writes (high, never low, but for drains). */
  get queuedBytes(): number {
    return this.estimate;
  }

  add(member: BudgetMember): void {
    this.members.add(member);
  }

  remove(member: BudgetMember): void {
    if (!this.members.delete(member)) return;
    this.estimate -= member.queuedKnown;
    member.queuedKnown = 0;
  }

  /** `member` wrote: it has `queued` bytes queued now. */
  wrote(member: BudgetMember, queued: number): void {
    if (!this.members.has(member)) return;
    this.estimate += queued - member.queuedKnown;
    member.queuedKnown = queued;
    if (this.estimate > this.maxBytes) this.enforce();
  }

  private enforce(): void {
    const now = this.now();
    if (now - this.lastRecount < RECOUNT_INTERVAL_MS) return;
    this.lastRecount = now;
    let total = 0;
    for (const member of this.members) {
      member.queuedKnown = member.queued();
      total += member.queuedKnown;
    }
    this.estimate = total;
    if (total <= this.maxBytes) return;
    const slowest = [...this.members].sort((a, b) => b.queuedKnown - a.queuedKnown);
    for (const member of slowest) {
      if (this.estimate <= this.maxBytes) break;
      this.cuts += 1;
      // Cutting removes it, and its bytes with it.
      member.cut();
      this.remove(member);
    }
  }
}
