import { createPublicKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  createRemoteJWKSet,
  type FlattenedJWSInput,
  type JWTHeaderParameters,
  type JWTPayload,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
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

/**
 * Compares in constant time, so the key can't be guessed byte by byte from response times.
 * Both as bytes: the expected key is converted once, where it is kept, not on every request.
 */
export function apiKeyMatches(given: Buffer | null, expected: Buffer): boolean {
  return given !== null && given.length === expected.length && timingSafeEqual(given, expected);
}

/** Where connection JWTs' keys come from, and what else a token must satisfy. */
export interface TokenOptions {
  /** HS256 secret; null: no HS256 tokens. */
  readonly tokenSecret: string | null;
  /** A JWKS URL (RS256, ES256, EdDSA keys); null: none. */
  readonly tokenJwksUrl: string | null;
  /** The text of a PEM public key (RSA, P-256 or Ed25519); null: none. */
  readonly tokenPublicKeyPem: string | null;
  readonly tokenAudience: string | null;
  readonly tokenIssuer: string | null;
  /** Longest `exp - iat`; null: any. */
  readonly tokenMaxAgeMs: number | null;
  readonly tokenClockSkewMs: number;
}

/**
 * Connection auth. Without a token key every connection is anonymous (may subscribe
 * anywhere, publish only where a namespace allows clients to). With one, a JWT with an `exp`
 * is required; its claims say who it is and where it may go: `sub` the user id, `channels`
 * the channels it may subscribe to, `publish` the channels it may publish on beyond what
 * namespaces allow (see core/access.ts for the patterns). Each key takes only its own
 * algorithm: the secret HS256, a public key the one its type signs with, so that a token
 * can't pick a weaker check (`none`, or HS256 "signed" with a public key).
 */
export interface ConnectionAuthExtras {
  /** Refuses tokens of users disconnected since they were issued. */
  readonly revocations?: RevocationCheck | null;
  /** Accepts the dashboard's tokens (reading `$admin:` channels) when the admin API is on. */
  readonly operatorTokens?: OperatorTokens | null;
}

export class ConnectionAuth {
  private readonly keys: TokenKeys | null;
  private readonly options: TokenOptions | null;
  private readonly revocations: RevocationCheck | null;
  private readonly operatorTokens: OperatorTokens | null;

  constructor(options: TokenOptions | null, extras: ConnectionAuthExtras = {}) {
    this.keys = options === null ? null : tokenKeys(options);
    this.options = this.keys === null ? null : options;
    this.revocations = extras.revocations ?? null;
    this.operatorTokens = extras.operatorTokens ?? null;
  }

  get required(): boolean {
    return this.keys !== null;
  }

  /** Whether `token` is a dashboard token this server issued (and still valid). */
  isOperatorToken(token: string): boolean {
    return this.operatorTokens?.identify(token) != null;
  }

  /**
   * The identity of a connection without a token on a server that needs none: known at once,
   * with nothing to verify. Null whenever `identify` has work to do (or a refusal to make).
   */
  identifyAtOnce(token: string | null): Identity | null {
    return token === null && this.keys === null ? ANONYMOUS : null;
  }

  async identify(token: string | null): Promise<Identity> {
    const operator = token && this.operatorTokens?.identify(token);
    if (operator) return operator;
    if (!this.keys || !this.options) return ANONYMOUS;
    if (!token)
      throw new PushwireError(
        'unauthorized',
        'a connection token is required (?token= or Authorization: Bearer)',
      );
    const payload = await this.verify(token, this.keys, this.options);
    const identity = identityOf(payload);
    if (identity.userId !== null) this.revocations?.assertNotRevoked(identity.userId, identity.issuedAt);
    return identity;
  }

  private async verify(token: string, keys: TokenKeys, options: TokenOptions): Promise<JWTPayload> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys.resolve, {
        algorithms: keys.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: options.tokenClockSkewMs / 1000,
        ...(options.tokenAudience !== null && { audience: options.tokenAudience }),
        ...(options.tokenIssuer !== null && { issuer: options.tokenIssuer }),
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new PushwireError('token_expired');
      throw new PushwireError('unauthorized', reasonOf(error));
    }
    const maxAgeMs = options.tokenMaxAgeMs;
    if (maxAgeMs !== null) {
      const { iat, exp } = payload;
      if (typeof iat !== 'number' || typeof exp !== 'number' || (exp - iat) * 1000 > maxAgeMs) {
        throw new PushwireError(
          'unauthorized',
          `the token lives too long: exp - iat must be at most ${maxAgeMs / 1000} s (and iat is required)`,
        );
      }
    }
    return payload;
  }
}

/** What a refused token is told: enough to fix it, nothing of the keys. */
function reasonOf(error: unknown): string {
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'the token is for another audience (aud)';
    if (error.claim === 'iss') return 'the token is from another issuer (iss)';
    if (error.claim === 'nbf') return 'the token is not valid yet (nbf)';
    if (error.claim === 'exp') return 'the token has no exp';
  }
  if (error instanceof PushwireError) return error.message;
  return 'the token is invalid';
}

/** A token's identity: its claims grant exactly what they name, no claim nothing (fail closed). */
function identityOf(payload: JWTPayload): Identity {
  return {
    userId: typeof payload.sub === 'string' ? payload.sub : null,
    ...(typeof payload.iat === 'number' ? { issuedAt: payload.iat } : {}),
    expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
    subscribe: patterns(payload.channels),
    publish: patterns(payload.publish),
  };
}

type KeyResolver = (
  header: JWTHeaderParameters,
  token: FlattenedJWSInput,
) => Promise<CryptoKey | KeyObject | Uint8Array>;

interface TokenKeys {
  readonly algorithms: string[];
  readonly resolve: KeyResolver;
}

const ASYMMETRIC = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];

/**
 * A token naming a kid the cached JWKS lacks (a rotation) refetches the set, at most this
 * often: tokens with made-up kids can't make the server hammer the key server.
 */
const JWKS_REFETCH_COOLDOWN_MS = 5_000;

/** Each configured key, and the algorithms it alone verifies; null when none is configured. */
function tokenKeys(options: TokenOptions): TokenKeys | null {
  const secret = options.tokenSecret === null ? null : new TextEncoder().encode(options.tokenSecret);
  const publicKey = options.tokenPublicKeyPem === null ? null : publicKeyOf(options.tokenPublicKeyPem);
  const jwks =
    options.tokenJwksUrl === null
      ? null
      : createRemoteJWKSet(new URL(options.tokenJwksUrl), {
          cooldownDuration: JWKS_REFETCH_COOLDOWN_MS,
          cacheMaxAge: 10 * 60_000,
          timeoutDuration: 5_000,
        });
  if (!secret && !publicKey && !jwks) return null;
  const algorithms = [
    ...(secret ? ['HS256'] : []),
    ...(publicKey ? publicKey.algorithms : []),
    ...(jwks ? ASYMMETRIC : []),
  ];
  return {
    algorithms: [...new Set(algorithms)],
    async resolve(header, token) {
      const alg = header.alg;
      if (alg === 'HS256' && secret) return secret;
      if (publicKey?.algorithms.includes(alg)) return publicKey.key;
      if (jwks && alg !== 'HS256') return jwks(header, token);
      throw new PushwireError('unauthorized', `the token's alg ${String(alg).slice(0, 16)} is not accepted`);
    },
  };
}

/** A PEM public key, with the one algorithm its type signs with. */
function publicKeyOf(pem: string): { key: KeyObject; algorithms: string[] } {
  const key = createPublicKey(pem);
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { key, algorithms: ['RS256'] };
    case 'ec':
      if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
        throw new Error('--token-public-key: an EC key must be on P-256 (ES256)');
      }
      return { key, algorithms: ['ES256'] };
    case 'ed25519':
      return { key, algorithms: ['EdDSA', 'Ed25519'] };
    default:
      throw new Error(
        `--token-public-key: a ${String(key.asymmetricKeyType)} key is not supported (use RSA, P-256 or Ed25519)`,
      );
  }
}

function patterns(claim: unknown): readonly string[] {
  if (claim === undefined) return [];
  if (!Array.isArray(claim) || !claim.every((entry) => typeof entry === 'string')) {
    throw new PushwireError('unauthorized', 'token claims "channels" and "publish" must be lists of strings');
  }
  return Object.freeze([...claim]);
}
