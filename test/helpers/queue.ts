/**
 * Collects events from a callback source so a test can `await queue.next()` instead of
 * sleeping. `next` fails after `timeoutMs`, naming what it waited for.
 */
export class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: { resolve: (item: T) => void; reject: (error: Error) => void }[] = [];
  private failure: Error | null = null;

  push = (item: T): void => {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.items.push(item);
  };

  /** Makes every pending and future `next` fail (the source ended). */
  fail(error: Error): void {
    this.failure = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  get size(): number {
    return this.items.length;
  }

  next(timeoutMs = 10_000, what = 'the next event'): Promise<T> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve: (value: T) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Every item queued now, removed from the queue; never waits. */
  takeQueued(): T[] {
    return this.items.splice(0);
  }

  /** The next item that satisfies `match`, dropping the others. */
  async nextMatching(match: (item: T) => boolean, timeoutMs = 10_000, what = 'a matching event'): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const item = await this.next(Math.max(1, deadline - Date.now()), what);
      if (match(item)) return item;
    }
  }

  /** The next `count` items. */
  async take(count: number, timeoutMs = 10_000): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    const out: T[] = [];
    while (out.length < count) {
      out.push(await this.next(Math.max(1, deadline - Date.now()), `item ${out.length + 1} of ${count}`));
    }
    return out;
  }
}
