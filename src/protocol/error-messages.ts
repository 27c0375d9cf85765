import type { ErrorCode } from './errors.ts';

/**
 * The message each error carries when its thrower gives none. Kept apart from the table so
 * that the browser bundle can leave them out (scripts/build-client.mjs): a client shows the
 * message the server sent, never one of its own.
 */
export const ERROR_MESSAGES: Readonly<Record<ErrorCode, string>> = {
  invalid_json: 'the body or frame is not valid JSON',
  invalid_request: 'the request is malformed',
  invalid_channel: 'the channel name is invalid',
  invalid_cursor: 'the cursor is malformed',
  unknown_op: 'the op is not known',
  already_subscribed: 'already subscribed to this channel',
  not_subscribed: 'not subscribed to this channel',
  too_many_channels: 'too many channels on one connection',
  unauthorized: 'missing or invalid credentials',
  token_expired: 'the token has expired: reconnect with a new token',
  disconnected: 'disconnected by the server: reconnect with new credentials',
  forbidden: 'not allowed',
  not_found: 'no such endpoint',
  method_not_allowed: 'method not allowed on this endpoint',
  request_timeout: 'the request did not arrive in time',
  headers_too_large: 'the request line or headers are too large',
  payload_too_large: 'the message is too large',
  unsupported_media_type: 'send application/json',
  rate_limited: 'too many requests: slow down',
  internal: 'internal server error',
  broker_unavailable: 'the broker is unavailable',
  unavailable: 'a service the server depends on is unavailable',
  too_many_connections: 'the server holds as many connections as it may: retry later',
  shutting_down: 'the server is shutting down',
  heartbeat_timeout: 'no pong within the heartbeat timeout',
  slow_consumer: 'the client reads too slowly',
  replaced: 'a newer connection of this client replaced this one',
};
