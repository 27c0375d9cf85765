import type { Identity, Session } from '../core/index.ts';
import type { TransportCounters } from './types.ts';

/**
 * A connection's token refresh, however it came (the WebSocket `refresh` op, `POST /refresh`):
 * the new token's identity replaces the session's, and the outcome is counted for /metrics.
 * Resolves with the new expiry; rejects, as the refusal, when the token is refused.
 */
export async function refreshSession(
  session: Session,
  identify: (token: string) => Promise<Identity>,
  token: string,
  counters: TransportCounters,
): Promise<number | null> {
  try {
    const expiresAt = session.refresh(await identify(token));
    counters.tokenRefreshes += 1;
    return expiresAt;
  } catch (error) {
    counters.tokenRefreshesRefused += 1;
    throw error;
  }
}
