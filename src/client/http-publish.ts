import { errorOfResponse, ServerError } from './server-error.ts';
import type { FetchFunction, PublishResult } from './types.ts';

export interface HttpPublish {
  baseUrl: string;
  token: string | undefined;
  /** Names the client to the application's hooks and events (`X-Pushwire-Client`). */
  clientId: string;
  channel: string;
  data: unknown;
  timeoutMs: number;
}

/**
 * `POST /publish` (docs/protocol.md): how a client on SSE, long poll or stream publishes, as
 * those transports have no upstream. Rejects with a ServerError that carries the server's `code`
 * (`forbidden`, `rate_limited`, ...), as a refused WebSocket publish does.
 */
export async function httpPublish(fetch: FetchFunction, request: HttpPublish): Promise<PublishResult> {
  const { baseUrl, token, clientId, channel, data, timeoutMs } = request;
  const headers: Record<string, string> = { 'X-Pushwire-Client': clientId };
  if (token) headers.Authorization = `Bearer ${token}`;
  const body = await postJson(fetch, `${baseUrl}/publish`, { channel, data }, timeoutMs, headers);
  return { channel, offset: Number(body.offset), epoch: String(body.epoch) };
}

/**
 * POSTs `body` as JSON and resolves with the JSON answer; rejects with the server's
 * ServerError (or `http_<status>` when something else answered), or an Error after `timeoutMs`.
 */
export async function postJson(
  fetch: FetchFunction,
  url: string,
  body: unknown,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: abort.signal,
    });
    const { status } = response;
    if (!response.ok) {
      throw (
        (await errorOfResponse(response)) ?? new ServerError(`http_${status}`, `HTTP ${status}`, { status })
      );
    }
    return (await response.json()) as Record<string, unknown>;
  } catch (error) {
    throw abort.signal.aborted ? new Error(`no reply within ${timeoutMs} ms`) : error;
  } finally {
    clearTimeout(timer);
  }
}
