import type { ServerResponse } from 'node:http';
import { asPushwireError } from '../protocol/index.ts';
import type { Wire } from './types.ts';

/** Answers with the documented error shape, unless the response has already begun. */
export function sendError(
  res: ServerResponse,
  error: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const failure = asPushwireError(error);
  sendJson(res, failure.status, JSON.stringify(failure.toBody()), headers);
}

/** Transport.refuse of the transports opened by a plain request. */
export function refuseRequest(wire: Wire, error: unknown, headers: Readonly<Record<string, string>>): void {
  if (wire.kind === 'response') sendError(wire.res, error, headers);
  else wire.socket.destroy();
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
