import type { ServerResponse } from 'node:http';
import { asPushwireError, retryAfterSecondsOf } from '../protocol/index.ts';
import type { Wire } from './types.ts';

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Answers with the documented error shape, unless the response has already begun. A refusal
 * that asks the client to wait says how long (`Retry-After`), readable by a page of another
 * origin where the answer is (a browser hides every other header from its script).
 */
export function sendError(
  res: ServerResponse,
  error: unknown,
  headers: Readonly<Record<string, string>> = NO_HEADERS,
): void {
  if (res.headersSent || res.destroyed) return;
  const failure = asPushwireError(error);
  const wait = retryAfterSecondsOf(failure.code);
  const head =
    wait === null
      ? headers
      : {
          ...headers,
          'Retry-After': String(wait),
          ...('Access-Control-Allow-Origin' in headers && { 'Access-Control-Expose-Headers': 'Retry-After' }),
        };
  sendJson(res, failure.status, JSON.stringify(failure.toBody()), head);
}

/** Transport.refuse of the transports opened by a plain request. */
export function refuseRequest(wire: Wire, error: unknown, headers: Readonly<Record<string, string>>): void {
  if (wire.kind === 'response') sendError(wire.res, error, headers);
  else wire.socket.destroy();
}

/**
 * Answers `status` with a JSON body. `headers` are added to the head (CORS, Retry-After); they
 * never name the three set here. The head goes to Node as a flat list: no object is built or
 * copied per answer. It is as short as it can be, as every poll carries it both ways:
 * - no `charset`: JSON is always UTF-8, and RFC 8259 defines no charset for it;
 * - no `Vary`: an answer that may not be stored (`no-store`) has no stored copy for `Vary` to
 *   qualify, so the CORS `Vary: Origin` means nothing on it.
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Readonly<Record<string, string>> = NO_HEADERS,
): void {
  const head: (string | number)[] = [
    'Content-Type',
    'application/json',
    'Cache-Control',
    'no-store',
    'Content-Length',
    Buffer.byteLength(body),
  ];
  for (const name in headers) if (name !== 'Vary') head.push(name, headers[name]!);
  res.writeHead(status, head);
  res.end(body);
}

/**
 * Flattens the head Node keeps for a long-lived response. Node builds it by concatenation and
 * keeps it as long as the response lives, as a rope of some forty pieces (each a heap object)
 * rather than one string: reading a character makes V8 flatten it into one, and the pieces
 * become garbage. Node's own `_header`, read only: where a Node version has no such string,
 * nothing happens.
 */
export function flattenHead(res: ServerResponse): void {
  const head: unknown = (res as { _header?: unknown })._header;
  if (typeof head === 'string' && head.length > 0) head.charCodeAt(0);
}
