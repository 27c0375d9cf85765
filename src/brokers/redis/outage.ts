import type { Logger } from '../types.ts';

/**
 * Errors of a Redis that is down or out of reach. They are expected in any deployment, so they
 * are named by their code alone: a stack trace would only say where Node noticed.
 */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
]);

/**
 * Repeats while Redis stays out of reach: after 5 s, then twice as long each time, at most
 * every 5 minutes. Never shorter than ioredis's retry delay (at most 2 s): at most one line
 * per retry step.
 */
const FIRST_REPEAT_MS = 5000;
const MAX_REPEAT_MS = 5 * 60_000;

/**
 * What the log says about one Redis deployment going away and coming back: one line when it
 * becomes unreachable, a reminder now and then while it stays so, one line when it is back;
 * every failed reconnect of its connections in between is quiet.
 */
export class OutageLog {
  private downSince: number | null = null;
  private lastCause: string | null = null;
  private repeatMs = FIRST_REPEAT_MS;
  private nextRepeatAt = 0;

  constructor(
    /** `host:port` (several, comma-separated, for sentinels and cluster seeds): never a password. */
    private readonly address: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  get down(): boolean {
    return this.downSince !== null;
  }

  /** Why the last connection attempt failed, while unreachable. */
  get cause(): string | null {
    return this.downSince === null ? null : this.lastCause;
  }

  /** A connection failed, or failed to connect. */
  failed(error: unknown): void {
    const { cause, expected } = causeOf(error);
    this.lastCause = cause;
    const now = this.now();
    if (this.downSince === null) {
      this.downSince = now;
      this.repeatMs = FIRST_REPEAT_MS;
      this.nextRepeatAt = now + this.repeatMs;
      // An unexpected error (a wrong password, a misconfigured server) keeps its details once.
      this.log(
        'warn',
        `redis at ${this.address} unreachable (${cause}); retrying`,
        expected ? undefined : error,
      );
      return;
    }
    if (now < this.nextRepeatAt) return;
    this.repeatMs = Math.min(this.repeatMs * 2, MAX_REPEAT_MS);
    this.nextRepeatAt = now + this.repeatMs;
    const since = seconds(now - this.downSince);
    this.log('warn', `redis at ${this.address} still unreachable after ${since} (${cause}); retrying`);
  }

  /** Every connection is back; `detail` says what was restored. */
  recovered(detail?: string): void {
    if (this.downSince === null) return;
    const after = seconds(this.now() - this.downSince);
    this.downSince = null;
    this.log('info', `redis at ${this.address} reachable again after ${after}${detail ? `; ${detail}` : ''}`);
  }
}

/** `ECONNREFUSED`, or the message of an error that is no network failure. */
export function causeOf(error: unknown): { cause: string; expected: boolean } {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return { cause: code, expected: true };
  const text = typeof message === 'string' && message !== '' ? message : String(error);
  // ioredis's own words for a connection it dropped or could not open in time.
  if (/^(Connection is closed|connection lost|connect ETIMEDOUT)/.test(text))
    return { cause: text, expected: true };
  return { cause: text.split('\n')[0]!, expected: false };
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}
