import {
  type ClientTransport,
  type Link,
  type LinkEvent,
  type LinkParams,
  type LinkSink,
  linkUrl,
  parseEvent,
  type TransportPlatform,
} from './types.ts';

// Named events of docs/protocol.md; messages use the default type. The heartbeat is a comment
// (which EventSource never surfaces) followed by a named `ping` event, which it does.
const CONTROL_EVENTS = ['connected', 'gap', 'reconnect', 'ping'];

/** `GET /sse`: EventSource, all channels on one connection; a new channel set is a new link. */
export function sseTransport(platform: TransportPlatform): ClientTransport {
  return {
    name: 'sse',
    supported: () => typeof platform.EventSource === 'function',
    open: (params, sink) => openEventSource(platform, params, sink),
  };
}

function openEventSource(platform: TransportPlatform, params: LinkParams, sink: LinkSink): Link {
  const source = new platform.EventSource!(linkUrl(params, '/sse'));
  let done = false;
  const forward = (op: string) => (event: { data: string }) => {
    const parsed = done ? null : parseEvent(event.data || '{}', op);
    if (parsed) sink.event(parsed as LinkEvent);
  };
  const close = () => {
    done = true;
    source.onmessage = source.onerror = null;
    source.close();
  };
  source.onmessage = forward('message');
  for (const op of CONTROL_EVENTS) source.addEventListener(op, forward(op));
  // EventSource would reconnect by itself with Last-Event-ID, but without backoff, fallback or
  // a new channel set: the client decides instead, resuming from the same cursor.
  source.onerror = () => {
    if (done) return;
    close();
    sink.closed({ reason: 'event stream failed or ended', terminal: false });
  };
  return { update: () => false, close };
}
