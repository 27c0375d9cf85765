/** The clock and timers the fan-out runs on; tests give a manual one. */
export interface Scheduler {
  /** Milliseconds, monotonic (performance.now()). */
  now(): number;
  /** Runs `task` after the current event-loop turn's I/O (setImmediate). */
  soon(task: () => void): void;
  /** Runs `task` after `ms` milliseconds (setTimeout). */
  later(task: () => void, ms: number): void;
  /** Runs `task` once the current operation finishes, before any I/O (process.nextTick). */
  afterCurrent(task: () => void): void;
}

export const REAL_SCHEDULER: Scheduler = {
  now: () => performance.now(),
  soon: (task) => setImmediate(task),
  later: (task, ms) => setTimeout(task, ms),
  afterCurrent: (task) => process.nextTick(task),
};

/**
 * A fan-out that took longer than this is followed by a rest of REST_SHARE of the time it
 * took before the next one, when the rest is worth its wait:
 * - while connections arrive. Writing to every connection is one long synchronous run, and
 *   Node's listener accepts one connection per event-loop turn: with a fan-out in every turn,
 *   a server with thousands of connections accepted a few dozen a second, and a reconnect
 *   storm took minutes. Resting keeps time for accepting them and reading their requests.
 * - when the fan-out wrote to members (connections that stay): the messages of the rest go
 *   out together in the next fan-out, in one write per connection instead of one each.
 * A fan-out that only answered waiting polls, with no connection arriving, gains nothing from
 * a rest: the polls that came to wait meanwhile would only get their answers that much later,
 * and come back that much later for the next.
 */
const PACING_MIN_MS = 2;
/**
 * A rest half as long as the fan-out kept WebSocket, SSE and stream storms as fast as a rest
 * as long, with less latency (docs/benchmarks.md).
 */
const REST_SHARE = 0.5;

/** What the fan-out flushes: a channel. */
export interface Flushable {
  /** Hands out what it holds; the number of messages handed out. */
  flush(): number;
  /** Whether it has members, connections that stay (not only polls waiting for its next messages). */
  readonly hasMembers: boolean;
}

const ALWAYS = () => true;

/**
 * The once-per-turn flush of channels: channels that accepted messages in a turn fan them
 * out together at the end of it (as the raw-socket servers do), or after the rest that follows
 * a slow fan-out. Under load each connection then gets one write per fan-out however many
 * messages arrived, and the publisher's answer is not held up by the fan-out.
 */
export class FanOut<C extends Flushable> {
  private readonly dirty = new Set<C>();
  private scheduled = false;
  /** scheduler.now() before which the next fan-out waits. */
  private restUntil = 0;

  constructor(
    /** After each channel's fan-out, with the number of messages it handed out. */
    private readonly flushed: (channel: C, delivered: number) => void,
    private readonly scheduler: Scheduler = REAL_SCHEDULER,
    /** Whether connections are arriving now (see PACING_MIN_MS); always, unless told. */
    private readonly arriving: () => boolean = ALWAYS,
  ) {}

  /** The channel has messages in its outbox. */
  queue(channel: C): void {
    this.dirty.add(channel);
    if (this.scheduled) return;
    this.scheduled = true;
    const rest = this.restUntil - this.scheduler.now();
    if (rest >= 1) this.scheduler.later(this.flush, rest);
    else this.scheduler.soon(this.flush);
  }

  /** Forgets a channel the hub let go of. */
  forget(channel: C): void {
    this.dirty.delete(channel);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const started = this.scheduler.now();
    const channels = [...this.dirty];
    this.dirty.clear();
    let wroteToMembers = false;
    for (const channel of channels) {
      wroteToMembers ||= channel.hasMembers;
      this.flushed(channel, channel.flush());
    }
    // Transports that cork write on the next tick: the rest is measured after their writes.
    this.scheduler.afterCurrent(() => this.rest(started, wroteToMembers));
  };

  private rest(started: number, wroteToMembers: boolean): void {
    const ended = this.scheduler.now();
    const took = ended - started;
    const slow = took >= PACING_MIN_MS;
    this.restUntil = slow && (wroteToMembers || this.arriving()) ? ended + took * REST_SHARE : 0;
  }
}
