import type { ChildProcess } from 'node:child_process';
import { extname, join } from 'node:path';
import { spawnWithFileLimit } from './targets.ts';
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
  readonly inbox: ToParent[];
  waiter: (() => void) | null;
}

/** Subscribers spread over several child processes, so the generator uses every core. */
export class SubscriberPool {
  private constructor(private readonly workers: Worker[]) {}

  /** Starts the children and opens `count` subscribers; resolves when each is live or failed. */
  static async open(
    target: SubscribeTarget,
    count: number,
    expectedMessages: number,
    block: number,
    onProgress: (ready: number) => void,
  ): Promise<{ pool: SubscriberPool; ready: number; failed: number }> {
    const workerCount = Math.max(2, Math.ceil(count / SOCKETS_PER_WORKER));
    const file = join(import.meta.dirname, `subscriber-worker${extname(import.meta.filename)}`);
    const loader = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const workers: Worker[] = [];
    const pool = new SubscriberPool(workers);
    let first = 0;
    for (let w = 0; w < workerCount; w++) {
      const share = Math.floor(count / workerCount) + (w < count % workerCount ? 1 : 0);
      const child = spawnWithFileLimit(process.execPath, [...loader, file], 'ipc');
      const worker: Worker = { child, ready: 0, warm: 0, received: 0, inbox: [], waiter: null };
      child.on('message', (message: ToParent) => {
        if (message.type === 'progress') {
          worker.ready = message.ready;
          worker.warm = message.warm;
          worker.received = message.received;
          onProgress(pool.ready);
        } else worker.inbox.push(message);
        worker.waiter?.();
      });
      child.on('exit', () => worker.waiter?.());
      workers.push(worker);
      const localAddresses = Array.from({ length: share }, (_, i) => sourceAddress(block, first + i));
      first += share;
      send(worker, { type: 'start', target, count: share, localAddresses, expectedMessages });
    }
    try {
      const replies = await Promise.all(workers.map((w) => next(w, 'connected', CONNECT_TIMEOUT_MS)));
      let ready = 0;
      let failed = 0;
      for (const reply of replies) {
        ready += reply.ready;
        failed += reply.failed;
      }
      return { pool, ready, failed };
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid!).filter((pid) => pid !== undefined);
  }

  get ready(): number {
    return this.workers.reduce((sum, w) => sum + w.ready, 0);
  }

  /** Subscribers that got a warm-up message (as last reported). */
  get warm(): number {
    return this.workers.reduce((sum, w) => sum + w.warm, 0);
  }

  /** Deliveries so far, as last reported (every 250 ms). */
  get received(): number {
    return this.workers.reduce((sum, w) => sum + w.received, 0);
  }

  async report(publishedSeqs: number, failedSeqs: number[]): Promise<WorkerReport[]> {
    for (const worker of this.workers) send(worker, { type: 'report', publishedSeqs, failedSeqs });
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
