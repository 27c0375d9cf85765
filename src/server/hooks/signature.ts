import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header every hook request is signed in: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const SIGNATURE_HEADER = 'Pushwire-Signature';

/** How far a signature's time may be from the receiver's clock before it is taken for a replay. */
export const SIGNATURE_TOLERANCE_S = 300;

function mac(secret: string, time: number, body: string): string {
  return createHmac('sha256', secret).update(`${time}.${body}`).digest('hex');
}

/** The signature header's value for `body`, sent at `time` (unix seconds). */
export function sign(secret: string, body: string, time: number = Math.floor(Date.now() / 1000)): string {
  return `t=${time},v1=${mac(secret, time, body)}`;
}

/**
 * Whether `header` signs `body` with `secret`, at most `toleranceS` seconds from `now` (unix
 * seconds). What a receiver does; compared in constant time.
 */
export function verify(
  secret: string,
  header: string | undefined,
  body: string,
  now: number = Math.floor(Date.now() / 1000),
  toleranceS: number = SIGNATURE_TOLERANCE_S,
): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const time = Number(match[1]);
  if (Math.abs(now - time) > toleranceS) return false;
  return timingSafeEqual(Buffer.from(match[2]!, 'hex'), Buffer.from(mac(secret, time, body), 'hex'));
}
