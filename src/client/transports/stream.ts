import { errorOfResponse, type ServerError } from '../server-error.ts';
import { httpControl } from './http-control.ts';
import {
  type ClientTransport,
  DOWNSTREAM_ONLY,
  LINK_CLOSED,
  type Link,
  type LinkParams,
  type LinkSink,
  linkUrl,
  parseEvent,
  type TransportPlatform,
} from './types.ts';

/**
 * `GET /stream`: one chunked NDJSON response, one event per line, all channels on it; channels
 * and the token change by requests naming the connection (`http-control.ts`).
 */
export function streamTransport(platform: TransportPlatform): ClientTransport {
  return {
    name: 'stream',
    capabilities: DOWNSTREAM_ONLY,
    // Streaming needs a readable response body, which some old fetch polyfills lack.
    supported: () => typeof platform.fetch === 'function' && typeof ReadableStream === 'function',
    open: (params, sink) => openStream(platform, params, sink),
  };
}

function openStream(platform: TransportPlatform, params: LinkParams, sink: LinkSink): Link {
  const abort = new AbortController();
  let done = false;
  const finish = (reason: string, error: ServerError | null = null) => {
    if (done) return;
    done = true;
    abort.abort(LINK_CLOSED);
    sink.closed({ reason, error });
  };
  const control = httpControl(platform, params, sink, finish);
  const read = async () => {
    const response = await platform.fetch!(linkUrl(params, '/stream'), {
      headers: { accept: 'application/x-ndjson' },
      signal: abort.signal,
    });
    if (!response.ok) return finish(`HTTP ${response.status}`, await errorOfResponse(response));
    if (!response.body) return finish('no response body');
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done: ended } = await reader.read();
      if (ended || done) break;
      buffer += decoder.decode(value, { stream: true });
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        const event = line.trim() && !done ? parseEvent(line) : null;
        if (event) control.receive(event);
      }
    }
    finish('stream ended');
  };
  read().catch((error: unknown) => finish(error instanceof Error ? error.message : 'stream failed'));
  return {
    update: control.update,
    refresh: control.refresh,
    close() {
      done = true;
      abort.abort(LINK_CLOSED);
    },
  };
}
