import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { AggregatorRegistry, Registry } from 'prom-client';
import { BrokerHost, type HostPort } from '../../brokers/index.ts';
import type { Config } from '../config/index.ts';
import { historyMetrics } from '../metrics.ts';
import { isToPrimary, type ToPrimary, type ToWorker } from './messages.ts';
import { PRIMARY_TITLE } from './titles.ts';

/** A worker that crashes is forked again after this, doubling per crash in a row, up to the cap. */
const RESTART_BASE_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that ran this long without a crash resets the backoff. */
const STABLE_AFTER_MS = 30_000;
/** A worker that doesn't listen within this long is killed: a reload must not wait for it forever. */
const START_TIMEOUT_MS = 60_000;
/** A worker that won't finish its drain within the shutdown timeout plus this is killed. */
const EXIT_GRACE_MS = 5_000;

export type WorkerReady = Extract<ToPrimary, { pw: 'ready' }>;

interface Slot {
  readonly worker: Worker;
  readonly port: HostPort;
  readonly exited: Promise<void>;
  ready: WorkerReady | null;
  readyAt: number;
  /** Told to drain and exit: its exit is no crash. */
  retiring: boolean;
}

/**
 * The primary of `serve --workers`: it forks the workers (node:cluster shares the listening
 * port among them), restarts one that dies, replaces them one at a time on reload, drains them
 * on stop, and with the memory broker holds the channels of them all. It never serves HTTP.
 */
export class Supervisor {
  private readonly host: BrokerHost | null;
  private readonly aggregator = new AggregatorRegistry();
  /** What the primary itself adds to /metrics: the history it holds for every worker. */
  private readonly own = new Registry();
  private readonly slots = new Set<Slot>();
  private readonly env: Record<string, string>;
  private state: 'starting' | 'running' | 'stopping' = 'starting';
  private crashesInARow = 0;
  private reloading: Promise<void> = Promise.resolve();
  private reloadsQueued = 0;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.host =
      config.broker === 'memory'
        ? new BrokerHost({
            logger: (level, msg, err) => logger[level]({ err }, msg),
            // The one history of all workers: the budget is the server's, not each worker's.
            maxHistoryBytes: config.maxHistoryMemory,
            maxChannels: config.maxHistoryChannels,
          })
        : null;
    if (this.host) historyMetrics([this.own], this.host);
    // Every worker must take the same key: a generated one is made once, here.
    this.env = config.apiKey === null ? { PUSHWIRE_API_KEY: randomBytes(18).toString('base64url') } : {};
  }

  /** Forks the workers; resolves once all listen with what the first said, rejects if one can't start. */
  async start(): Promise<WorkerReady> {
    await this.host?.start();
    // What `ps` shows, and what `pushwire reload` checks before it signals the pid file's process.
    process.title = PRIMARY_TITLE;
    if (this.config.pidFile !== null) await writeFile(this.config.pidFile, `${process.pid}\n`);
    try {
      const ready = await Promise.all(Array.from({ length: this.config.workers }, () => this.fork()));
      this.state = 'running';
      return ready[0]!.ready!;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Replaces the workers one at a time (new code, new config); a reload asked during one runs after it. */
  reload(): Promise<void> {
    if (this.reloadsQueued > 0) return this.reloading;
    this.reloadsQueued++;
    this.reloading = this.reloading.then(async () => {
      this.reloadsQueued--;
      await this.replaceAll();
    });
    return this.reloading;
  }

  /** Drains every worker (each tells its clients to reconnect), then releases the channels. */
  async stop(): Promise<void> {
    this.state = 'stopping';
    await Promise.all([...this.slots].map((slot) => this.retire(slot)));
    await this.host?.close();
    if (this.config.pidFile !== null) await rm(this.config.pidFile, { force: true });
  }

  /** Kills every worker at once (a second signal: the operator won't wait for the drain). */
  kill(): void {
    for (const slot of this.slots) slot.worker.process.kill('SIGKILL');
  }

  private async replaceAll(): Promise<void> {
    const old = [...this.slots].filter((slot) => !slot.retiring);
    this.logger.info({ workers: old.length }, 'reload: replacing the workers one at a time');
    for (const slot of old) {
      if (this.state !== 'running') return;
      let fresh: Slot;
      try {
        fresh = await this.fork();
      } catch (error) {
        // A stop meanwhile ended the new worker too: nothing failed.
        if (this.state !== 'running') {
          this.logger.info('reload abandoned: the server is stopping');
          return;
        }
        // The new code or config can't start: keep the workers that run.
        this.logger.error({ err: error }, 'reload stopped: a new worker could not start');
        return;
      }
      this.logger.info(
        { worker: fresh.worker.process.pid, replaces: slot.worker.process.pid },
        'reload: worker replaced',
      );
      await this.retire(slot);
    }
    this.logger.info('reload: done');
  }

  private retire(slot: Slot): Promise<void> {
    if (!slot.retiring) {
      slot.retiring = true;
      slot.worker.process.kill('SIGTERM');
      const timer = setTimeout(
        () => slot.worker.process.kill('SIGKILL'),
        this.config.shutdownTimeoutMs + EXIT_GRACE_MS,
      );
      void slot.exited.then(() => clearTimeout(timer));
    }
    return slot.exited;
  }

  /** Forks a worker; resolves once it listens, rejects if it exits first. */
  private fork(): Promise<Slot> {
    const worker = cluster.fork(this.env);
    const port: HostPort = {
      send: (message) => {
        if (worker.isConnected()) worker.send(message);
      },
    };
    let exited: () => void = () => {};
    const slot: Slot = {
      worker,
      port,
      exited: new Promise((resolve) => {
        exited = resolve;
      }),
      ready: null,
      readyAt: 0,
      retiring: false,
    };
    this.slots.add(slot);
    const startTimer = setTimeout(() => {
      this.logger.error(
        { worker: worker.process.pid },
        `a worker did not listen within ${START_TIMEOUT_MS} ms`,
      );
      worker.process.kill('SIGKILL');
    }, START_TIMEOUT_MS);
    void slot.exited.then(() => clearTimeout(startTimer));
    return new Promise<Slot>((resolve, reject) => {
      worker.on('message', (message: unknown) => {
        if (!isToPrimary(message)) {
          this.host?.receive(port, message);
          return;
        }
        if (message.pw === 'ready') {
          clearTimeout(startTimer);
          slot.ready = message;
          slot.readyAt = Date.now();
          this.logger.debug({ worker: worker.process.pid, node: message.node }, 'worker listening');
          resolve(slot);
        } else {
          void this.scrape(worker, message.id);
        }
      });
      worker.on('exit', (code, signal) => {
        this.slots.delete(slot);
        this.host?.portGone(port);
        exited();
        if (!slot.ready) {
          reject(new Error(`a worker exited before it listened (${signal ?? `code ${code}`})`));
          return;
        }
        if (!slot.retiring && this.state === 'running') this.restart(slot, code, signal);
      });
    });
  }

  private restart(dead: Slot, code: number | null, signal: string | null): void {
    if (Date.now() - dead.readyAt > STABLE_AFTER_MS) this.crashesInARow = 0;
    const delayMs = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** this.crashesInARow);
    this.crashesInARow++;
    this.logger.warn(
      { worker: dead.worker.process.pid, node: dead.ready?.node, code, signal, restartInMs: delayMs },
      'worker died: its clients reconnect to the others; a new worker starts',
    );
    setTimeout(() => {
      if (this.state !== 'running') return;
      this.fork().catch((error: unknown) => {
        if (this.state !== 'running') return;
        this.logger.error({ err: error }, 'a restarted worker could not start');
        this.restart(dead, null, null);
      });
    }, delayMs).unref();
  }

  private async scrape(worker: Worker, id: number): Promise<void> {
    let reply: ToWorker;
    try {
      const [workers, own] = await Promise.all([this.aggregator.clusterMetrics(), this.own.metrics()]);
      reply = { pw: 'metrics-text', id, text: `${workers}\n${own}` };
    } catch (error) {
      reply = { pw: 'metrics-text', id, error: error instanceof Error ? error.message : String(error) };
    }
    if (worker.isConnected()) worker.send(reply);
  }
}
