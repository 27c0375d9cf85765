/**
 * Every error Pushwire reports, one row per code: its HTTP status and, where it ends a
 * WebSocket connection, its close code. Codes are part of the contract (docs/protocol.md):
 * never rename or reuse one. Close codes 4000-4499 mean "reconnect"; 4500-4999 mean "don't".
 */
export const ERROR_CODES = {
  invalid_json: { status: 400, closeCode: null, message: 'the body or frame is not valid JSON' },
  invalid_request: { status: 400, closeCode: null, message: 'the request is malformed' },
  invalid_channel: { status: 400, closeCode: null, message: 'the channel name is invalid' },
  invalid_cursor: { status: 400, closeCode: null, message: 'the cursor is malformed' },
  unknown_op: { status: 400, closeCode: null, message: 'the op is not known' },
  already_subscribed: { status: 400, closeCode: null, message: 'already subscribed to this channel' },
  not_subscribed: { status: 400, closeCode: null, message: 'not subscribed to this channel' },
  too_many_channels: { status: 400, closeCode: null, message: 'too many channels on one connection' },
  unauthorized: { status: 401, closeCode: 4501, message: 'missing or invalid credentials' },
  forbidden: { status: 403, closeCode: null, message: 'not allowed' },
  not_found: { status: 404, closeCode: null, message: 'no such endpoint' },
  method_not_allowed: { status: 405, closeCode: null, message: 'method not allowed on this endpoint' },
  payload_too_large: { status: 413, closeCode: 1009, message: 'the message is too large' },
  unsupported_media_type: { status: 415, closeCode: null, message: 'send application/json' },
  rate_limited: { status: 429, closeCode: null, message: 'too many requests' },
  internal: { status: 500, closeCode: 4003, message: 'internal server error' },
  broker_unavailable: { status: 503, closeCode: null, message: 'the broker is unavailable' },
  shutting_down: { status: 503, closeCode: 4000, message: 'the server is shutting down' },
  heartbeat_timeout: { status: 408, closeCode: 4001, message: 'no pong within the heartbeat timeout' },
  slow_consumer: { status: 503, closeCode: 4002, message: 'the client reads too slowly' },
} as const satisfies Record<string, { status: number; closeCode: number | null; message: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The documented JSON error shape of every HTTP error response. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

export class PushwireError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string = ERROR_CODES[code].message) {
    super(message);
    this.name = 'PushwireError';
    this.code = code;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** Close codes a client should reconnect after (RFC 6455 1001/1006 too: going away, abnormal). */
export function closeCodeMeansReconnect(code: number): boolean {
  return code < 4500 || code >= 5000;
}
