import { ERROR_MESSAGES } from './error-messages.ts';

/**
 * Every error Pushwire reports, one row per code: its HTTP status (null where it never ends an
 * HTTP request) and, where it can end a WebSocket connection, its close code. Codes are part
 * of the contract (docs/protocol.md, whose table a test holds equal to this one): never rename
 * or reuse one. Close codes 4000-4499 mean "reconnect, with backoff"; 4500-4999 mean "don't
 * reconnect without new credentials or a changed request".
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, closeCode: null },
  invalid_request: { status: 400, closeCode: 4505 },
  invalid_channel: { status: 400, closeCode: null },
  invalid_cursor: { status: 400, closeCode: null },
  unknown_op: { status: 400, closeCode: null },
  already_subscribed: { status: 400, closeCode: null },
  not_subscribed: { status: 400, closeCode: null },
  too_many_channels: { status: 400, closeCode: null },
  unauthorized: { status: 401, closeCode: 4501 },
  token_expired: { status: 401, closeCode: 4502 },
  disconnected: { status: 401, closeCode: 4503 },
  forbidden: { status: 403, closeCode: 4504 },
  not_found: { status: 404, closeCode: null },
  method_not_allowed: { status: 405, closeCode: null },
  request_timeout: { status: 408, closeCode: null },
  headers_too_large: { status: 431, closeCode: null },
  payload_too_large: { status: 413, closeCode: 1009 },
  unsupported_media_type: { status: 415, closeCode: null },
  rate_limited: { status: 429, closeCode: 4004 },
  internal: { status: 500, closeCode: 4003 },
  broker_unavailable: { status: 503, closeCode: 4006 },
  unavailable: { status: 503, closeCode: 4007 },
  too_many_connections: { status: 503, closeCode: 4005 },
  shutting_down: { status: 503, closeCode: 4000 },
  heartbeat_timeout: { status: null, closeCode: 4001 },
  slow_consumer: { status: null, closeCode: 4002 },
  replaced: { status: null, closeCode: 4506 },
} as const satisfies Record<string, { status: number | null; closeCode: number | null }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The wait, in seconds, a refusal with `too_many_connections` asks for: its `Retry-After`, and
 * what clients wait where no header can carry it (a WebSocket's close 4005).
 */
export const FULL_SERVER_RETRY_AFTER_S = 5;

/**
 * The wait, in seconds, a `429 rate_limited` asks for. Every rate is a whole number of things
 * per second, at least one, so the bucket has a token again within a second.
 */
export const RATE_LIMITED_RETRY_AFTER_S = 1;

/** The `Retry-After` (seconds) an HTTP error with `code` carries, or null when it has none. */
export function retryAfterSecondsOf(code: ErrorCode): number | null {
  if (code === 'too_many_connections') return FULL_SERVER_RETRY_AFTER_S;
  if (code === 'rate_limited') return RATE_LIMITED_RETRY_AFTER_S;
  return null;
}

/** The documented JSON error shape of every HTTP error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export class PushwireError extends Error {
  readonly code: ErrorCode;

  // In the browser bundle the messages are left out (an empty map): the code stands in.
  constructor(
    code: ErrorCode,
    message: string = (ERROR_MESSAGES as Partial<Record<ErrorCode, string>>)[code] ?? code,
  ) {
    super(message);
    this.name = 'PushwireError';
    this.code = code;
  }

  /** The HTTP status of this error; codes that never answer a request map to 500. */
  get status(): number {
    return ERROR_CODES[this.code].status ?? 500;
  }

  /** The close code that ends a WebSocket connection for this error (see closeCodeOf). */
  get closeCode(): number {
    return closeCodeOf(this.code);
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/**
 * Any thrown value as a PushwireError: itself when it is one, else `fallback` — `internal` (a
 * bug) by default, or what the failing part stands for (`broker_unavailable` for a broker of
 * the application's own that throws plain errors). A foreign error's message never reaches a
 * client: it may name hosts, keys or internals.
 */
export function asPushwireError(error: unknown, fallback: ErrorCode = 'internal'): PushwireError {
  return error instanceof PushwireError ? error : new PushwireError(fallback);
}

/**
 * The close code that ends a WebSocket connection for `code`. Codes without one of their own
 * close as a refused request (4505) when the client caused them, else with 1011.
 */
export function closeCodeOf(code: ErrorCode): number {
  const row = ERROR_CODES[code];
  if (row.closeCode !== null) return row.closeCode;
  return row.status !== null && row.status < 500 ? 4505 : 1011;
}

/** Close codes a client should reconnect after (RFC 6455 1001/1006 too: going away, abnormal). */
export function closeCodeMeansReconnect(code: number): boolean {
  return code < 4500 || code >= 5000;
}

/** The error code a close code stands for, for clients that see only the close. */
export function errorCodeOfClose(code: number): ErrorCode | null {
  for (const [name, row] of Object.entries(ERROR_CODES)) {
    if (row.closeCode === code) return name as ErrorCode;
  }
  return null;
}
