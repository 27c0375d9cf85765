/**
 * What one subscriber got: every message carries the publisher's sequence number `seq`
 * (1, 2, 3, ... in publish order) and an order key the target assigned (its offset; for a
 * target without offsets, `seq` of a strictly serial publisher). A seq seen twice is a
 * duplicate, an order key not above the previous one is out of order, and a seq never seen by
 * the end is lost. Seq 0 is the warm-up message, which the caller keeps out of the count.
 */
export class DeliveryTracker {
  private seen: Uint8Array;
  private lastOrder = 0;
  /** Got a warm-up message (seq 0, never counted): the subscription is live. */
  warm = false;
  received = 0;
  duplicated = 0;
  reordered = 0;

  constructor(expectedCount: number) {
    this.seen = new Uint8Array(Math.max(16, expectedCount + 1));
  }

  /** Returns false for a duplicate (not to be counted as a delivery). */
  record(seq: number, order: number): boolean {
    if (seq >= this.seen.length) this.grow(seq);
    if (this.seen[seq] === 1) {
      this.duplicated += 1;
      return false;
    }
    this.seen[seq] = 1;
    this.received += 1;
    if (order <= this.lastOrder) this.reordered += 1;
    else this.lastOrder = order;
    return true;
  }

  has(seq: number): boolean {
    return this.seen[seq] === 1;
  }

  /** Messages 1..published that never arrived. */
  lost(published: number): number {
    let missing = 0;
    for (let seq = 1; seq <= published; seq++) if (this.seen[seq] !== 1) missing += 1;
    return missing;
  }

  private grow(seq: number): void {
    const bigger = new Uint8Array(Math.max(seq + 1, this.seen.length * 2));
    bigger.set(this.seen);
    this.seen = bigger;
  }
}
