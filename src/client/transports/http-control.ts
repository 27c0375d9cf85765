import { postJson } from '../http-publish.ts';
import { errorOfEvent, type ServerError } from '../server-error.ts';
import type { Link, LinkEvent, LinkParams, LinkSink, TransportPlatform, WireEvent } from './types.ts';

/** What SSE and stream links do over plain requests beside their one open response. */
export type HttpControl = Pick<Link, 'refresh'> & {
  update(channels: readonly string[], cursor: string | null): Promise<void>;
  /**
   * Takes each event of the response: `connected` names the connection (changes made before
   * it go out then); an `error` naming a channel drops that channel, any other ends the link.
   */
  receive(event: WireEvent): void;
};

/**
 * `POST /refresh`, `/subscribe` and `/unsubscribe` (docs/protocol.md) for a link whose events
 * come down one response: they address that connection by the `clientId` of its `connected`
 * event, and prove they come from its client with that event's `replaceKey`. Changes are sent one at a time, in order, each against what the server last accepted,
 * so a subscribe and an unsubscribe of one channel in a burst can't overtake each other.
 */
export function httpControl(
  platform: TransportPlatform,
  params: LinkParams,
  sink: LinkSink,
  finish: (reason: string, error?: ServerError | null) => void,
): HttpControl {
  let clientId = '';
  let key = '';
  let wanted: readonly string[] = params.channels;
  const applied = new Set(params.channels);
  /** Channels the server refused or took away: a new token may grant them. */
  const refused = new Set<string>();
  let cursor = params.cursor;
  let queue = Promise.resolve();
  const post = (path: string, body: Record<string, unknown>) =>
    postJson(platform.fetch!, params.baseUrl + path, { clientId, key, ...body }, platform.requestTimeoutMs);

  const apply = async () => {
    for (const channel of wanted) {
      if (applied.has(channel)) continue;
      applied.add(channel);
      try {
        const reply = await post('/subscribe', cursor ? { channel, cursor } : { channel });
        sink.event({ op: 'subscribed', channel, cursor: reply.cursor as string });
      } catch (error) {
        // A refusal of this channel (forbidden, invalid) is the app's to hear about, as on a
        // WebSocket; anything else (no such endpoint or connection) means this link can't.
        const { status, code, message } = error as ServerError;
        if (status !== 400 && status !== 403) throw error;
        refused.add(channel);
        sink.event({ op: 'error', code, message, channel });
      }
    }
    for (const channel of applied) {
      if (wanted.includes(channel)) continue;
      applied.delete(channel);
      // One the server doesn't have (refused, taken away) is gone all the same.
      await post('/unsubscribe', { channel }).catch(() => {});
    }
  };
  const schedule = () => {
    const next = queue.then(() => (clientId ? apply() : undefined));
    // A failed change fails its caller (who replaces the link), not the ones queued after it.
    queue = next.catch(() => {});
    return next;
  };
  // Changes made while connecting, or retried after a refresh, have no caller left to replace
  // the link: it ends instead.
  const retry = () => schedule().catch(() => finish('channel change refused'));
  return {
    receive(event) {
      const { op, channel } = event;
      if (op === 'error') {
        if (typeof channel !== 'string') return finish(String(event.code), errorOfEvent(event));
        refused.add(channel);
      }
      sink.event(event as LinkEvent);
      if (op === 'connected' && !clientId) {
        clientId = String(event.clientId);
        key = String(event.replaceKey ?? '');
        retry();
      }
    },
    update(channels, nextCursor) {
      wanted = channels;
      cursor = nextCursor;
      return schedule();
    },
    refresh: async (token) => {
      // Asked again: those refused before this token (not the ones it takes away now).
      const again = [...refused];
      const { expiresAt } = await post('/refresh', { token });
      for (const channel of again) {
        refused.delete(channel);
        applied.delete(channel);
      }
      retry();
      return (expiresAt as number | undefined) ?? null;
    },
  };
}
