import { closeCodeMeansReconnect } from '../protocol/index.ts';
import type { HttpAnswer } from './transports/types.ts';

/**
 * An error the server reported: `code` and `message` are the server's (docs/protocol.md lists
 * every code; match on `code`). `status` is the HTTP status and `closeCode` the WebSocket close
 * code it came with, where it came with one; `channel` names the channel of a refused subscribe;
 * `retryAfterMs` is the wait a refusal's `Retry-After` asked for.
 */
export class ServerError extends Error {
  readonly code: string;
  declare readonly status?: number;
  declare readonly closeCode?: number;
  declare readonly channel?: string;
  declare readonly retryAfterMs?: number;

  constructor(
    code: string,
    message: string,
    where?: { status?: number; closeCode?: number; channel?: string; retryAfterMs?: number },
  ) {
    super(message);
    this.name = 'ServerError';
    this.code = code;
    Object.assign(this, where);
  }
}

/**
 * Whether a connection refused with `error` must not be retried as it is: a 4500-4999 close, or
 * a 4xx that new credentials or another request fix, and retrying doesn't. Not 404 and 405 (a
 * proxy that routes only some paths), 408 and 429 (slow down, then retry).
 */
export function isFinal(error: ServerError): boolean {
  const { status = 0, closeCode } = error;
  if (closeCode) return !closeCodeMeansReconnect(closeCode);
  return status >= 400 && status < 500 && ![404, 405, 408, 429].includes(status);
}

/**
 * The server's error from a refused HTTP request (`{"error":{"code","message"}}`), or null when
 * the body isn't that shape: then something else answered (a proxy), and it is a transport
 * failure, not the server's refusal.
 */
export async function errorOfResponse(response: HttpAnswer): Promise<ServerError | null> {
  const body = (await response.json().catch(() => null)) as {
    error?: { code?: unknown; message?: unknown };
  } | null;
  const { code, message } = body?.error ?? {};
  if (typeof code !== 'string') return null;
  const retryAfter = retryAfterMs(response.headers.get('retry-after'));
  return new ServerError(code, String(message ?? code), {
    status: response.status,
    ...(retryAfter === null ? {} : { retryAfterMs: retryAfter }),
  });
}

/** A `Retry-After` in seconds, in ms; null when absent or not seconds (an HTTP date: ignored). */
export function retryAfterMs(header: string | null): number | null {
  if (header === null || !/^\s*\d{1,9}\s*$/.test(header)) return null;
  return Number(header) * 1000;
}

/**
 * The server's error from a WebSocket close: the error frame it sent first (a refused upgrade)
 * or, without one, the close reason: a Pushwire server closes with its error code as the reason.
 * Null for closes that are no error (1000, 1001, 1006 of a dropped network, ...).
 */
export function errorOfClose(
  closeCode: number,
  reason: string,
  frame: { code: string; message: string } | null,
): ServerError | null {
  if (!frame && (closeCode < 4000 || closeCode > 4999)) return null;
  const code = frame?.code ?? (reason || `close_${closeCode}`);
  return new ServerError(code, frame?.message ?? `closed with ${closeCode} ${code}`, { closeCode });
}

/**
 * The codes that end an SSE or stream response for good (their WebSocket close codes are
 * 4500-4999), with their HTTP status: the client retries the others, as on a WebSocket.
 */
const FINAL_ENDS: Record<string, number> = {
  unauthorized: 401,
  token_expired: 401,
  disconnected: 401,
  forbidden: 403,
};

/** The server's error from the `error` event that ends an SSE or stream response. */
export function errorOfEvent({ code, message }: Record<string, unknown>): ServerError {
  const name = String(code);
  return new ServerError(name, String(message ?? name), { status: FINAL_ENDS[name] ?? 0 });
}
