import type { BackoffOptions } from './types.ts';

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseDelayMs: 500, maxDelayMs: 5_000 };

/** The first reconnect is spread over at most this long, so a herd doesn't return in one instant. */
const FIRST_SPREAD_MS = 250;

/** Later waits grow with the time already spent away: at most this share of it. */
const AWAY_SHARE = 1 / 4;

/**
 * The wait before reconnect attempt `attempt` (0 first), `elapsedMs` after the connection was
 * lost. The first goes at once, after a random spread below min(250 ms, base / 2). Later ones
 * use "equal jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): half of a
 * ceiling plus a random share of the other half, where the ceiling is a quarter of the time
 * already spent away, at least `baseDelayMs` and at most `maxDelayMs`. So a client is back
 * within max(base, a quarter of the outage), capped, of the network's return: within half a
 * second of a 2 s drop, the outage of a phone changing cells, whereas doubling per attempt
 * could wait 2-4 s right after the network came back; a long outage still slows it to one
 * attempt every 2.5-5 s, and a run of failures never collapses to ~0 (hammering a server that
 * is down). A server that is up but full says so (`too_many_connections`), and is waited for
 * as it asks, not by this.
 */
export function backoffDelay(
  attempt: number,
  elapsedMs: number,
  { baseDelayMs, maxDelayMs }: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  if (attempt <= 0) return Math.floor(random() * Math.min(FIRST_SPREAD_MS, baseDelayMs / 2, maxDelayMs));
  const ceiling = Math.min(maxDelayMs, Math.max(baseDelayMs, elapsedMs * AWAY_SHARE));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** The server's `reconnect` hint ("wait about that long, plus jitter"): between 1 and 1.5 times it. */
export function hintedDelay(delayMs: number, random: () => number = Math.random): number {
  return Math.floor(delayMs + (random() * delayMs) / 2);
}
