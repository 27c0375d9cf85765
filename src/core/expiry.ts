/** Something that ends when its credentials expire (a session). */
export interface Expiring {
  /** The deadline passed: end now. Called once per `add`, never before the deadline. */
  expire(): void;
}

/** How finely deadlines are told apart: an end comes at most this late. */
const SLOT_MS = 250;

/**
 * One timer for the expiry of every connection of the node, instead of one per connection.
 * Deadlines fall into slots of SLOT_MS; while anything is in the wheel it turns every slot and
 * expires the members of the slots it passed. An end is never early and at most a slot late
 * (a session also checks its deadline before each delivery, so a late end lets nothing out).
 * Token expiries are whole seconds: the connections of one second share a slot.
 */
export class ExpiryWheel {
  private readonly slots = new Map<number, Set<Expiring>>();
  /** Each member's slot. */
  private readonly keys = new Map<Expiring, number>();
  /** The first slot not yet turned. */
  private next = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly clock: () => number = Date.now) {}

  get size(): number {
    return this.keys.size;
  }

  /** `member` expires at `deadline` (ms since the epoch) unless removed first; replaces its last one. */
  add(member: Expiring, deadline: number): void {
    this.remove(member);
    if (this.slots.size === 0) this.next = Math.floor(this.clock() / SLOT_MS);
    // Rounded up, so that the slot is turned at or after the deadline, never before; a
    // deadline already past goes to the next slot turned.
    const key = Math.max(Math.ceil(deadline / SLOT_MS), this.next);
    this.keys.set(member, key);
    let slot = this.slots.get(key);
    if (!slot) {
      slot = new Set();
      this.slots.set(key, slot);
    }
    slot.add(member);
    if (!this.timer) {
      this.timer = setInterval(() => this.turn(this.clock()), SLOT_MS);
      this.timer.unref();
    }
  }

  remove(member: Expiring): void {
    const key = this.keys.get(member);
    if (key === undefined) return;
    this.keys.delete(member);
    const slot = this.slots.get(key);
    if (!slot?.delete(member)) return;
    if (slot.size === 0) this.slots.delete(key);
    if (this.slots.size === 0) this.stop();
  }

  /** Expires everything whose deadline is at or before `now`; the timer calls it each slot. */
  turn(now: number): void {
    const current = Math.floor(now / SLOT_MS);
    // Walks slot by slot: a timer that ran late (a busy node) catches up on every slot it missed.
    for (; this.next <= current && this.slots.size > 0; this.next++) {
      const slot = this.slots.get(this.next);
      if (!slot) continue;
      this.slots.delete(this.next);
      for (const member of slot) {
        this.keys.delete(member);
        member.expire();
      }
    }
    if (this.slots.size === 0) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
