import type { Identity, Session } from '../core/index.ts';
import { PushwireError } from '../protocol/index.ts';
import type { TransportCounters } from './types.ts';

/**
 * A connection's token refresh, however it came (the WebSocket `refresh` op, `POST /refresh`):
 * the new token's identity replaces the session's, and the outcome is counted for /metrics.
 * `identify` is absent on a server that takes no tokens. Resolves with the new expiry;
 * rejects, as the refusal, when the token is refused.
 */
export async function refreshSession(
  session: Session,
  identify: ((token: string) => Promise<Identity>) | undefined,
  token: string,
  counters: TransportCounters,
): Promise<number | null> {
  if (!identify)
    throw new PushwireError('invalid_request', 'this server takes no tokens: nothing to refresh');
  try {
    const expiresAt = session.refresh(await identify(token));
    counters.tokenRefreshes += 1;
    return expiresAt;
  } catch (error) {
    counters.tokenRefreshesRefused += 1;
    throw error;
  }
}
