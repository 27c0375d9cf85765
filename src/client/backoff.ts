import type { BackoffOptions } from './types.ts';

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseDelayMs: 1000, maxDelayMs: 5_000 };

/** The first reconnect is spread over at most this long, so a herd doesn't return in one instant. */
const FIRST_SPREAD_MS = 250;

/**
 * The wait before reconnect attempt `attempt` (0 first), `elapsedMs` after the connection was
 * lost. The first goes at once, after a random spread below min(250 ms, base / 2). Later ones
 * use "equal jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): half of a
 * ceiling plus a random share of the other half, where the ceiling is half the time already
 * spent away, at least `baseDelayMs` and at most `maxDelayMs`. So a client is back within
 * max(base, half the outage) of the network's return, capped: within a second of a 2 s drop,
 * whereas doubling per attempt could wait 2-4 s right after the network came back; a long
 * outage still slows it to one attempt every 2.5-5 s, and a run of failures never collapses
 * to ~0 (hammering a server that is down).
 */
export function backoffDelay(
  attempt: number,
  elapsedMs: number,
  { baseDelayMs, maxDelayMs }: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  if (attempt <= 0) return Math.floor(random() * Math.min(FIRST_SPREAD_MS, baseDelayMs / 2, maxDelayMs));
  const ceiling = Math.min(maxDelayMs, Math.max(baseDelayMs, elapsedMs / 2));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** The server's `reconnect` hint ("wait about that long, plus jitter"): between 1 and 1.5 times it. */
export function hintedDelay(delayMs: number, random: () => number = Math.random): number {
  return Math.floor(delayMs + (random() * delayMs) / 2);
}
