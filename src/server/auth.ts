import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { errors as joseErrors, jwtVerify } from 'jose';
import { ANONYMOUS, type Identity } from '../core/index.ts';
import { PushwireError } from '../protocol/index.ts';
import type { OperatorTokens } from './admin/operator-tokens.ts';
import type { RevocationCheck } from './revocations.ts';

/** The bearer credential of a request: `Authorization: Bearer …`, else `?token=`. */
export function bearerToken(req: IncomingMessage, query: URLSearchParams | null): string | null {
  const header = req.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match) return match[1]!.trim();
  }
  return query?.get('token') ?? null;
}

/** Compares in constant time, so the key can't be guessed byte by byte from response times. */
export function apiKeyMatches(given: string | null, expected: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Connection auth. Without a token secret every connection is anonymous (may subscribe
 * anywhere, publish only where a namespace allows clients to). With one, a JWT (HS256) with
 * an `exp` is required; its claims say who it is and where it may go:
 * `sub` the user id, `channels` the channels it may subscribe to, `publish` the channels it
 * may publish on beyond what namespaces allow; entries ending in `*` match a prefix.
 */
export interface ConnectionAuthExtras {
  /** Refuses tokens of users disconnected since they were issued. */
  readonly revocations?: RevocationCheck | null;
  /** Accepts the dashboard's tokens (reading `$admin:` channels) when the admin API is on. */
  readonly operatorTokens?: OperatorTokens | null;
}

export class ConnectionAuth {
  private readonly key: Uint8Array | null;
  private readonly revocations: RevocationCheck | null;
  private readonly operatorTokens: OperatorTokens | null;

  constructor(tokenSecret: string | null, extras: ConnectionAuthExtras = {}) {
    this.key = tokenSecret === null ? null : new TextEncoder().encode(tokenSecret);
    this.revocations = extras.revocations ?? null;
    this.operatorTokens = extras.operatorTokens ?? null;
  }

  get required(): boolean {
    return this.key !== null;
  }

  /** Whether `token` is a dashboard token this server issued (and still valid). */
  isOperatorToken(token: string): boolean {
    return this.operatorTokens?.identify(token) != null;
  }

  async identify(token: string | null): Promise<Identity> {
    const operator = token && this.operatorTokens?.identify(token);
    if (operator) return operator;
    if (!this.key) return ANONYMOUS;
    if (!token)
      throw new PushwireError(
        'unauthorized',
        'a connection token is required (?token= or Authorization: Bearer)',
      );
    let identity: Identity;
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        requiredClaims: ['exp'],
      });
      const subscribe = patterns(payload.channels);
      const publish = patterns(payload.publish) ?? [];
      identity = {
        userId: typeof payload.sub === 'string' ? payload.sub : null,
        ...(typeof payload.iat === 'number' ? { issuedAt: payload.iat } : {}),
        canSubscribe: (channel) => subscribe === null || matchesAny(subscribe, channel),
        canPublish: (channel) => matchesAny(publish, channel),
      };
    } catch (error) {
      const reason =
        error instanceof joseErrors.JWTExpired ? 'the token has expired' : 'the token is invalid';
      throw new PushwireError('unauthorized', reason);
    }
    if (identity.userId !== null) this.revocations?.assertNotRevoked(identity.userId, identity.issuedAt);
    return identity;
  }
}

function patterns(claim: unknown): string[] | null {
  if (claim === undefined) return null;
  if (!Array.isArray(claim) || !claim.every((entry) => typeof entry === 'string')) {
    throw new PushwireError('unauthorized', 'token claims "channels" and "publish" must be lists of strings');
  }
  return claim;
}

function matchesAny(list: readonly string[], channel: string): boolean {
  return list.some((entry) =>
    entry.endsWith('*') ? channel.startsWith(entry.slice(0, -1)) : entry === channel,
  );
}
