import type { Identity } from '../../core/index.ts';
import { PushwireError } from '../../protocol/index.ts';

/** Why a connect hook's answer can't be used: the application's bug, not the client's. */
export class InvalidAnswer extends Error {
  override name = 'InvalidAnswer';
}

/**
 * The identity a connect hook's answer gives, with the rights a token's claims would:
 * `{"user": "u1", "channels": ["news", "chat:*"], "publish": ["chat:*"], "expiresAt": 1767225600}`.
 * `user` null or absent: anonymous. `channels` absent: any channel; `publish` absent: none
 * beyond what namespaces allow. `expiresAt` (unix seconds, like a JWT's `exp`): the connection
 * is closed with `token_expired` then.
 */
export function identityFromAnswer(answer: Record<string, unknown>, now: number = Date.now()): Identity {
  const { user, channels, publish, expiresAt } = answer;
  if (user !== undefined && user !== null && typeof user !== 'string') {
    throw new InvalidAnswer('"user" must be a string or null');
  }
  const subscribe = patterns(channels, 'channels');
  const publishing = patterns(publish, 'publish') ?? [];
  let expiresAtMs: number | null = null;
  if (expiresAt !== undefined && expiresAt !== null) {
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      throw new InvalidAnswer('"expiresAt" must be a number of seconds since the epoch');
    }
    expiresAtMs = expiresAt * 1000;
    if (expiresAtMs <= now) throw new PushwireError('token_expired', 'the credentials have expired');
  }
  return {
    userId: user ?? null,
    subscribe: subscribe ?? 'all',
    publish: publishing,
    expiresAt: expiresAtMs,
  };
}

function patterns(value: unknown, field: string): readonly string[] | null {
  if (value === undefined) return null;
  if (!Array.isArray(value) || !value.every((entry) => typeof entry === 'string')) {
    throw new InvalidAnswer(`"${field}" must be a list of channel names`);
  }
  return value;
}
