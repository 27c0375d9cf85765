import type { EventLog, QueuedEvent } from './event-log.ts';
import type { HookMetrics } from './hook-metrics.ts';
import { HookUnreachable, postHook } from './hook-request.ts';

/** Events per POST at most. */
const BATCH_MAX = 100;
/** How long one wait for new events lasts before the loop looks around (lease, shutdown). */
const IDLE_WAIT_MS = 1000;
/** Retry delays: full jitter under an exponential ceiling from 200 ms to 10 s. */
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 10_000;
/** A receiver's answer is not read past this. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface EventSenderOptions {
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs: number;
  readonly metrics: HookMetrics;
  readonly log: (level: 'warn' | 'info', msg: string) => void;
}

/** The delay before retry `attempt` (1, 2, …): anywhere up to a ceiling that doubles, capped. */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempt - 1, 16));
  return Math.round(random() * ceiling);
}

/**
 * Delivers lifecycle events from the log to the hook URL: batches of `{"events":[…]}` in log
 * order, signed, each retried with backoff until the receiver answers 2xx. The next batch
 * goes only after that, so a receiver sees events in order (duplicates aside, after a crash).
 */
export class EventSender {
  private running = false;
  private loop: Promise<void> | null = null;
  private interrupt: (() => void) | null = null;
  private readonly stopping = new AbortController();
  /** Failed attempts in a row, to log an outage once when it starts and once when it ends. */
  private failing = 0;

  constructor(
    private readonly log: EventLog,
    private readonly options: EventSenderOptions,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Keeps delivering until nothing would be lost by stopping (the log is settled) or
   * `budgetMs` has passed, then stops; a POST in flight may finish. Returns whether it settled.
   */
  async stop(budgetMs: number): Promise<boolean> {
    const deadline = Date.now() + budgetMs;
    while (!this.log.settled() && Date.now() < deadline) await sleep(50);
    const settled = this.log.settled();
    this.running = false;
    this.stopping.abort();
    this.interrupt?.();
    await this.loop;
    return settled;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const batch = await this.log.next(BATCH_MAX, IDLE_WAIT_MS, this.stopping.signal);
      if (batch.length === 0) continue;
      if (await this.deliver(batch)) await this.log.delivered(batch);
    }
  }

  /** True once the receiver took the batch; false when it stopped trying (shutdown, lease lost). */
  private async deliver(batch: readonly QueuedEvent[]): Promise<boolean> {
    const body = `{"events":[${batch.map((event) => event.json).join(',')}]}`;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) {
        this.options.metrics.retries.inc({ hook: 'events' });
        await this.pause(retryDelayMs(attempt));
      }
      if (!this.running || !this.log.mayDeliver()) return false;
      const why = await this.attempt(body);
      if (why === null) {
        if (this.failing > 0)
          this.options.log('info', `hook URL takes events again after ${this.failing} failed attempts`);
        this.failing = 0;
        return true;
      }
      if (this.failing++ === 0) {
        this.options.log('warn', `hook URL ${why}; events are kept and sent again with backoff`);
      }
    }
  }

  /** One POST: null when the receiver took it, else why not. */
  private async attempt(body: string): Promise<string | null> {
    const { url, secret, timeoutMs, metrics } = this.options;
    const stop = metrics.duration.startTimer({ hook: 'events' });
    metrics.inFlight.inc({ hook: 'events' });
    try {
      const { status } = await postHook({ url, secret, body, timeoutMs, maxAnswerBytes: MAX_ANSWER_BYTES });
      const ok = status >= 200 && status < 300;
      metrics.requests.inc({ hook: 'events', outcome: ok ? 'ok' : 'failed' });
      return ok ? null : `answered ${status}`;
    } catch (error) {
      const timedOut = error instanceof HookUnreachable && error.timedOut;
      metrics.requests.inc({ hook: 'events', outcome: timedOut ? 'timeout' : 'unreachable' });
      return error instanceof Error ? `failed: ${error.message}` : 'failed';
    } finally {
      metrics.inFlight.dec({ hook: 'events' });
      stop();
    }
  }

  /** Waits `ms`, or less when stopped. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.interrupt = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.interrupt = done;
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
