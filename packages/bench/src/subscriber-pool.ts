import type { ChildProcess } from 'node:child_process';
import { extname, join } from 'node:path';
import { generatorProfileArgs, spawnWithFileLimit } from './targets.ts';
import type { SubscribeTarget } from './wire.ts';
import type { ToParent, ToWorker, WorkerReport } from './worker-protocol.ts';

/** Sockets per load-generator process: well under its open-file limit of 20,000. */
const SOCKETS_PER_WORKER = 8000;
/** Sockets per source address, under the ~28k ephemeral ports each address has. */
const SOCKETS_PER_ADDRESS = 10_000;
const CONNECT_TIMEOUT_MS = 180_000;
const REPORT_TIMEOUT_MS = 30_000;

/**
 * The source address of subscriber `index` in scenario `block`: 127.0.B.2, 127.0.B.3, ...
 * B changes every scenario, so ports left in TIME_WAIT by the last one never collide.
 */
export function sourceAddress(block: number, index: number): string {
  return `127.0.${1 + (block % 250)}.${2 + Math.floor(index / SOCKETS_PER_ADDRESS)}`;
}

interface Worker {
  readonly child: ChildProcess;
  ready: number;
  warm: number;
  received: number;
  reconnected: number;
  /** Date.now() of its last progress message. */
  heardAt: number;
  readonly inbox: ToParent[];
  waiter: (() => void) | null;
}

/** What to open: `count` subscribers of `target`, from source addresses of scenario `block`. */
export interface PoolSpec {
  readonly target: SubscribeTarget;
  readonly count: number;
  /** Messages each subscriber is expected to get (sizes its record). */
  readonly expectedMessages: number;
  readonly block: number;
  /** How long the children may take to open them all (default CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs?: number;
}

/** The outcome of opening the subscribers, with the span the children took to do it. */
export interface PoolOpened {
  readonly pool: SubscriberPool;
  readonly ready: number;
  readonly failed: number;
  /** `nowMicros()` when the first connection attempt began and when the last became live. */
  readonly startedUs: number;
  readonly lastReadyUs: number;
}

/** Subscribers spread over several child processes, so the generator uses every core. */
export class SubscriberPool {
  private constructor(private readonly workers: Worker[]) {}

  /**
   * Starts the children, waits until every one is up (so they start connecting together),
   * then calls `beforeConnect` and opens the subscribers; resolves when each is live or failed.
   */
  static async open(
    spec: PoolSpec,
    onProgress: (ready: number) => void,
    beforeConnect: () => void = () => {},
  ): Promise<PoolOpened> {
    const workerCount = Math.max(2, Math.ceil(spec.count / SOCKETS_PER_WORKER));
    const file = join(import.meta.dirname, `subscriber-worker${extname(import.meta.filename)}`);
    const loader = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const workers: Worker[] = [];
    const pool = new SubscriberPool(workers);
    for (let w = 0; w < workerCount; w++) {
      const child = spawnWithFileLimit(
        process.execPath,
        [...generatorProfileArgs('generator'), ...loader, file],
        'ipc',
      );
      const worker: Worker = {
        child,
        ready: 0,
        warm: 0,
        received: 0,
        reconnected: 0,
        heardAt: Date.now(),
        inbox: [],
        waiter: null,
      };
      child.on('message', (message: ToParent) => {
        if (message.type === 'progress') {
          worker.ready = message.ready;
          worker.warm = message.warm;
          worker.received = message.received;
          worker.reconnected = message.reconnected;
          worker.heardAt = Date.now();
          onProgress(pool.ready);
        } else worker.inbox.push(message);
        worker.waiter?.();
      });
      child.on('exit', () => worker.waiter?.());
      workers.push(worker);
    }
    try {
      await Promise.all(workers.map((w) => next(w, 'hello', CONNECT_TIMEOUT_MS)));
      beforeConnect();
      let first = 0;
      workers.forEach((worker, w) => {
        const share = Math.floor(spec.count / workerCount) + (w < spec.count % workerCount ? 1 : 0);
        const localAddresses = Array.from({ length: share }, (_, i) => sourceAddress(spec.block, first + i));
        send(worker, {
          type: 'start',
          target: spec.target,
          count: share,
          firstIndex: first,
          localAddresses,
          expectedMessages: spec.expectedMessages,
        });
        first += share;
      });
      const timeoutMs = spec.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
      const replies = await Promise.all(workers.map((w) => next(w, 'connected', timeoutMs)));
      return {
        pool,
        ready: sum(replies.map((r) => r.ready)),
        failed: sum(replies.map((r) => r.failed)),
        startedUs: Math.min(...replies.map((r) => r.startedUs)),
        lastReadyUs: Math.max(...replies.map((r) => r.lastReadyUs)),
      };
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /**
   * Drops every subscriber at once and has each reconnect with its cursor; resolves when all
   * are live again or failed, with the time the last one became live (`nowMicros()`).
   */
  async drop(): Promise<{ ready: number; failed: number; lastReadyUs: number }> {
    for (const worker of this.workers) send(worker, { type: 'drop' });
    const replies = await Promise.all(this.workers.map((w) => next(w, 'reconnected', CONNECT_TIMEOUT_MS)));
    return {
      ready: sum(replies.map((r) => r.ready)),
      failed: sum(replies.map((r) => r.failed)),
      lastReadyUs: Math.max(...replies.map((r) => r.lastReadyUs)),
    };
  }

  /** Subscribers live again after a drop (as last reported). */
  get reconnected(): number {
    return this.workers.reduce((total, w) => total + w.reconnected, 0);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid!).filter((pid) => pid !== undefined);
  }

  get ready(): number {
    return this.workers.reduce((total, w) => total + w.ready, 0);
  }

  /** Subscribers that got a warm-up message (as last reported). */
  get warm(): number {
    return this.workers.reduce((total, w) => total + w.warm, 0);
  }

  /**
   * How long the least recently heard child has been silent. A child reports every 250 ms
   * between event-loop turns, so a long silence means it is busy reading, not idle.
   */
  get silentMs(): number {
    const now = Date.now();
    return this.workers.reduce((longest, w) => Math.max(longest, now - w.heardAt), 0);
  }

  /** Deliveries so far, as last reported (every 250 ms). */
  get received(): number {
    return this.workers.reduce((total, w) => total + w.received, 0);
  }

  /** Each child's report, once publishes 1..published were sent and `failed` (their k) refused. */
  async report(published: number, failed: number[]): Promise<WorkerReport[]> {
    for (const worker of this.workers) send(worker, { type: 'report', published, failed });
    return Promise.all(this.workers.map((w) => next(w, 'report', REPORT_TIMEOUT_MS)));
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<void>((done) => {
            const { child } = worker;
            if (child.exitCode !== null || child.signalCode !== null) return done();
            const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(timer);
              done();
            });
            if (child.connected) send(worker, { type: 'close' });
            else child.kill('SIGTERM');
          }),
      ),
    );
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}

function send(worker: Worker, message: ToWorker): void {
  if (worker.child.connected) worker.child.send(message);
}

/** The next message of `type` from a worker (or the worker's failure). */
function next<T extends ToParent['type']>(
  worker: Worker,
  type: T,
  timeoutMs: number,
): Promise<Extract<ToParent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`load generator: no "${type}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const finish = (error: Error | null, value?: Extract<ToParent, { type: T }>) => {
      clearTimeout(timer);
      worker.waiter = null;
      if (error) reject(error);
      else resolve(value!);
    };
    const check = () => {
      const index = worker.inbox.findIndex((m) => m.type === type || m.type === 'failed');
      if (index !== -1) {
        const [message] = worker.inbox.splice(index, 1);
        if (message!.type === 'failed') finish(new Error(`load generator: ${message!.message}`));
        else finish(null, message as Extract<ToParent, { type: T }>);
      } else if (worker.child.exitCode !== null || worker.child.signalCode !== null) {
        finish(
          new Error(`load generator child exited (${worker.child.exitCode ?? worker.child.signalCode})`),
        );
      }
    };
    worker.waiter = check;
    check();
  });
}
