/** The application's way to get a fresh connection token (the `getToken` option). */
export type GetToken = () => Promise<string>;

/**
 * The connection token: the one place every link, probe and HTTP publish reads it from, so
 * that a new one (`setToken`, or one `getToken` gave) reaches all of them.
 */
export class TokenSource {
  #token: string | undefined;
  readonly getToken: GetToken | undefined;
  /** Told of every new token, e.g. to hand it to the other tabs. */
  onChange: ((token: string | undefined) => void) | null = null;

  constructor(token: string | undefined, getToken?: GetToken) {
    this.#token = token || undefined;
    this.getToken = getToken;
  }

  get current(): string | undefined {
    return this.#token;
  }

  set(token: string | undefined): void {
    token ||= undefined;
    if (token === this.#token) return;
    this.#token = token;
    this.onChange?.(token);
  }
}

/**
 * The `exp` of a JWT in ms since the epoch, read without checking the signature (only the
 * server can): for scheduling a refresh where the server doesn't say when the token expires
 * (long polling has no `connected` event). Null when it isn't a JWT with an `exp`.
 */
export function tokenExpiry(token: string | undefined): number | null {
  // Long polling asks at every poll: no token must not cost a thrown error each time.
  const payload = token?.split('.')[1];
  if (!payload) return null;
  try {
    const { exp } = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    return exp > 0 ? exp * 1000 : null;
  } catch {
    return null;
  }
}

/**
 * When to refresh a token that expires at `expiresAt`: half of the time left early (at most
 * 30 s), less up to a quarter more at random, so that `getToken` has time to answer even for
 * tokens of a few seconds, and the clients of one deploy (whose tokens were minted in the same
 * second) don't all ask the application's token endpoint in the same instant.
 */
export function refreshDelay(expiresAt: number, now = Date.now(), random = Math.random): number {
  const left = expiresAt - now;
  const margin = Math.min(left / 2, 30_000);
  return Math.max(0, Math.floor(left - margin - (random() * margin) / 2));
}
