import { errorOfResponse, type ServerError } from '../server-error.ts';
import type { FetchFunction } from '../types.ts';
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

// Named events of docs/protocol.md; messages use the default type. The heartbeat is a comment
// (which EventSource never surfaces) followed by a named `ping` event, which it does.
const CONTROL_EVENTS = ['connected', 'gap', 'reconnect', 'ping', 'error'];

/**
 * `GET /sse`: EventSource, all channels on one connection; channels are added and dropped, and
 * the token refreshed, by requests naming the connection (`http-control.ts`).
 */
export function sseTransport(platform: TransportPlatform): ClientTransport {
  return {
    name: 'sse',
    capabilities: { ...DOWNSTREAM_ONLY, heartbeatVisible: false },
    supported: () => typeof platform.EventSource === 'function',
    open: (params, sink) => openEventSource(platform, params, sink),
  };
}

function openEventSource(platform: TransportPlatform, params: LinkParams, sink: LinkSink): Link {
  const url = linkUrl(params, '/sse');
  const source = new platform.EventSource!(url);
  /** The request that asks why a stream failed, if one is out. */
  let probe: AbortController | null = null;
  let connected = false;
  let done = false;
  let closedByCaller = false;
  const forward = (op: string) => (event: { data: string }) => {
    // EventSource fires its own `error` (a failed connection, no data) at the same listeners.
    if (op === 'error' && typeof event.data !== 'string') return;
    const parsed = done ? null : parseEvent(event.data || '{}', op);
    connected ||= op === 'connected';
    if (parsed) control.receive(parsed);
  };
  const stop = () => {
    done = true;
    source.onmessage = source.onerror = null;
    source.close();
  };
  const control = httpControl(platform, params, sink, (reason, error = null) => {
    if (done) return;
    stop();
    sink.closed({ reason, error });
  });
  source.onmessage = forward('message');
  for (const op of CONTROL_EVENTS) source.addEventListener(op, forward(op));
  // EventSource would reconnect by itself with Last-Event-ID, but without backoff, fallback or
  // a new channel set: the client decides instead, resuming from the same cursor.
  source.onerror = (event) => {
    // The server's named `error` events reach this handler too: `forward` has them.
    if (done || typeof (event as { data?: unknown }).data === 'string') return;
    stop();
    const reason = 'event stream failed or ended';
    if (connected || failedWithoutAnswer(event)) return sink.closed({ reason, error: null });
    probe = new AbortController();
    whyRefused(platform.fetch, url, probe).then((error) => {
      if (!closedByCaller) sink.closed({ reason, error });
    });
  };
  return {
    update: control.update,
    refresh: control.refresh,
    close() {
      closedByCaller = true;
      probe?.abort(LINK_CLOSED);
      stop();
    },
  };
}

/**
 * Whether the stream's request got no answer at all (the network, a server that is down):
 * then a second request has nothing to add. Browsers' EventSource never says; the
 * `eventsource` package of Node does, with a `message` and no HTTP status `code`.
 */
function failedWithoutAnswer(event: unknown): boolean {
  const { message, code } = event as { message?: unknown; code?: unknown };
  return typeof message === 'string' && code === undefined;
}

/**
 * EventSource never shows a script the status or body of a failed request, so a stream that
 * failed before `connected` is asked once more, by fetch: an error answer says why (no or a bad
 * token, a forbidden channel); an event stream means it works now, and is let go unread. Null
 * when nothing more is known than a failure (no fetch, a network error, a server on another
 * origin that doesn't let this one read its error answers).
 */
async function whyRefused(
  fetch: FetchFunction | undefined,
  url: string,
  probe: AbortController,
): Promise<ServerError | null> {
  try {
    const response = await fetch!(url, { signal: probe.signal });
    if (!response.ok) return await errorOfResponse(response);
    probe.abort(LINK_CLOSED);
    return null;
  } catch {
    return null;
  }
}
