import type { EventQueueStats } from './hook-metrics.ts';

/** A lifecycle event waiting to be delivered: its JSON and its place in the log. */
export interface QueuedEvent {
  readonly key: string;
  readonly json: string;
}

/**
 * Where lifecycle events wait until the receiver took them, in order. The memory log holds
 * them in this process; the Redis log in a stream every node shares, so that a node that dies
 * leaves its events to the others.
 */
export interface EventLog extends EventQueueStats {
  /** Starts as node `node` (the hub's id). */
  start(node: string): Promise<void>;
  /**
   * Accepts one event (its JSON). MUST NOT throw or block. When the log is full the event is
   * dropped: counted in `dropped` and logged once per run of drops, never silently.
   */
  append(json: string): void;
  /**
   * The oldest events not yet delivered, at most `max`, in order, waiting up to `waitMs` for
   * one (less once `signal` aborts). Empty when there are none, or while another node
   * delivers (Redis). Until `delivered` is called the same events come again.
   */
  next(max: number, waitMs: number, signal: AbortSignal): Promise<readonly QueuedEvent[]>;
  /** The receiver took these events (the last `next`'s): they go. */
  delivered(events: readonly QueuedEvent[]): Promise<void>;
  /** Whether this node may still deliver what `next` gave it (false once another node took over). */
  mayDeliver(): boolean;
  /** Whether stopping now loses nothing: every event accepted here is delivered or stored for other nodes. */
  settled(): boolean;
  /** Stops waiting and lets go of what it holds (a Redis link, the sender lease). */
  close(): Promise<void>;
}

/**
 * Counts dropped events and logs a run of drops twice: when it starts and when there is room
 * again, with how many went. A receiver that is down for an hour makes two log lines, not a
 * million.
 */
export class Overflow {
  dropped = 0;
  private inRun = 0;

  constructor(private readonly log: (level: 'warn' | 'info', msg: string) => void) {}

  drop(count: number, capacity: number): void {
    this.dropped += count;
    if (this.inRun === 0) {
      this.log(
        'warn',
        `hook queue full (${capacity} events): dropping lifecycle events until the receiver takes some (pushwire_hooks_events_dropped_total)`,
      );
    }
    this.inRun += count;
  }

  /** An event was taken again: ends a run of drops. */
  taken(): void {
    if (this.inRun === 0) return;
    this.log('info', `hook queue has room again; ${this.inRun} lifecycle events were dropped`);
    this.inRun = 0;
  }
}

/** The log of a single node (the memory broker): a bounded queue in this process. */
export class MemoryEventLog implements EventLog {
  sent = 0;
  private readonly queue: QueuedEvent[] = [];
  private readonly overflow: Overflow;
  private nextKey = 0;
  /** Ends the wait of the one reader, when an event comes. */
  private wake: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly capacity: number,
    log: (level: 'warn' | 'info', msg: string) => void,
  ) {
    this.overflow = new Overflow(log);
  }

  get dropped(): number {
    return this.overflow.dropped;
  }

  async start(_node: string): Promise<void> {}

  append(json: string): void {
    if (this.queue.length >= this.capacity) {
      this.overflow.drop(1, this.capacity);
      return;
    }
    this.overflow.taken();
    this.queue.push({ key: String(++this.nextKey), json });
    this.wake?.();
  }

  async next(max: number, waitMs: number, signal: AbortSignal): Promise<readonly QueuedEvent[]> {
    if (this.queue.length === 0 && !this.closed && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          this.wake = null;
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        signal.addEventListener('abort', done, { once: true });
        this.wake = done;
      });
    }
    return this.queue.slice(0, max);
  }

  async delivered(events: readonly QueuedEvent[]): Promise<void> {
    // Only one reader takes from the head, so the delivered events are the first ones.
    this.queue.splice(0, events.length);
    this.sent += events.length;
  }

  mayDeliver(): boolean {
    return true;
  }

  settled(): boolean {
    return this.queue.length === 0;
  }

  queued(): number {
    return this.queue.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
  }
}
