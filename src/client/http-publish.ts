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
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Pushwire-Client': clientId,
  };
  if (token) headers.Authorization = `Bearer ${token}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const response = await fetch(`${baseUrl}/publish`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ channel, data }),
      signal: abort.signal,
    });
    const { status } = response;
    if (!response.ok) {
      throw (
        (await errorOfResponse(response)) ?? new ServerError(`http_${status}`, `HTTP ${status}`, { status })
      );
    }
    const body = (await response.json()) as { offset?: number; epoch?: string };
    return { channel, offset: Number(body.offset), epoch: String(body.epoch) };
  } catch (error) {
    throw abort.signal.aborted ? new Error(`no reply within ${timeoutMs} ms`) : error;
  } finally {
    clearTimeout(timer);
  }
}
