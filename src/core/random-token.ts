import { randomFillSync } from 'node:crypto';

/** Tokens' worth of random bytes drawn from the CSPRNG at once. */
const POOL_BYTES = 4096;

let pool = Buffer.alloc(0);
let used = 0;

/**
 * `bytes` random bytes from the CSPRNG, as base64url. A session takes two such tokens, and a
 * reconnect storm opens thousands of sessions a second: one `randomFillSync` per 4 KiB instead
 * of one call per token. Each byte is handed out once, so the tokens are as unguessable as
 * `randomBytes`' own.
 */
export function randomToken(bytes: number): string {
  if (used + bytes > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(Math.max(POOL_BYTES, bytes)));
    used = 0;
  }
  const token = pool.toString('base64url', used, used + bytes);
  used += bytes;
  return token;
}
