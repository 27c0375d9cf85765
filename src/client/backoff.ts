import type { BackoffOptions } from './types.ts';

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseDelayMs: 500, maxDelayMs: 20_000 };

/**
 * The wait before reconnect attempt `attempt` (0 first): "full jitter", a uniformly random
 * wait below the capped exponential, which spreads a herd of clients that lost the same
 * server best (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015).
 */
export function backoffDelay(
  attempt: number,
  { baseDelayMs, maxDelayMs }: Required<BackoffOptions>,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt));
}

/** The server's `reconnect` hint ("wait about that long, plus jitter"): between 1 and 1.5 times it. */
export function hintedDelay(delayMs: number, random: () => number = Math.random): number {
  return Math.floor(delayMs + (random() * delayMs) / 2);
}
