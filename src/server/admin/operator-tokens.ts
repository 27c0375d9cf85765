import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../../core/index.ts';

/** How long a dashboard token lets its page read the server's own channels. */
export const OPERATOR_TOKEN_TTL_MS = 60 * 60 * 1000;
const PREFIX = 'pwop1.';
/** The only channels an operator token reads. */
const READS = '$admin:';

/**
 * Tokens the dashboard page connects with. EventSource can only carry credentials in the URL,
 * and the admin key must never appear in one (proxies log URLs), so the page trades the key
 * for a token that reads `$admin:` channels only and expires within the hour. It is signed
 * with a key derived from the admin key: every node with the same admin key accepts it, and
 * changing the admin key voids every token.
 */
export class OperatorTokens {
  private readonly key: Buffer;

  constructor(adminKey: string) {
    this.key = createHmac('sha256', adminKey).update('pushwire operator token').digest();
  }

  issue(now: number = Date.now()): { token: string; expiresAt: number } {
    const expiresAt = now + OPERATOR_TOKEN_TTL_MS;
    const body = `${PREFIX}${expiresAt}`;
    return { token: `${body}.${this.sign(body)}`, expiresAt };
  }

  /** The operator's identity for a valid token; null when `token` is not one (or expired). */
  identify(token: string, now: number = Date.now()): Identity | null {
    if (!token.startsWith(PREFIX)) return null;
    const dot = token.lastIndexOf('.');
    const body = token.slice(0, dot);
    const given = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.sign(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const expiresAt = Number(body.slice(PREFIX.length));
    if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) return null;
    return OPERATOR;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}

const OPERATOR: Identity = Object.freeze({
  userId: null,
  system: true,
  subscribe: Object.freeze([`${READS}**`]),
  publish: Object.freeze([]),
});
