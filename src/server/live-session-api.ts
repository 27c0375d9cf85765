import type { Hub, Session } from '../core/index.ts';
import {
  asPushwireError,
  assertChannel,
  type Cursor,
  decodeCursor,
  isErrorCode,
  PushwireError,
  tokenOf,
} from '../protocol/index.ts';
import { refreshSession, sendJson, type TransportCounters } from '../transports/index.ts';
import type { ConnectionAuth } from './auth.ts';
import type { ClusterNode } from './cluster-node.ts';
import { readJsonBody } from './request-input.ts';
import type { Exchange, RouteEntry } from './routes.ts';

export interface LiveSessionDeps {
  readonly hub: Hub;
  readonly node: ClusterNode;
  readonly auth: ConnectionAuth;
  /** Where token refreshes are counted, with the WebSocket's. */
  readonly counters: TransportCounters;
}

/** Names the open connection a request is about, and proves the request comes from its client. */
interface Addressed {
  readonly clientId: string;
  /** The connection's replaceKey from its `connected` event; '' when the request gave none. */
  readonly key: string;
}

/** What a client asks of its open SSE or stream connection, by that connection's clientId. */
type LiveRequest = Addressed &
  (
    | { readonly op: 'refresh'; readonly token: string }
    | { readonly op: 'subscribe'; readonly channel: string; readonly cursor?: string }
    | { readonly op: 'unsubscribe'; readonly channel: string }
  );

type LiveOp = LiveRequest['op'];

/** A node's answer to a request it got over the control bus. */
type NodeAnswer =
  | { readonly found: false }
  | { readonly found: true; readonly body: Record<string, unknown> }
  | { readonly found: true; readonly error: { readonly code: string; readonly message: string } };

const MAX_BODY_BYTES = 16 * 1024;
const MAX_ID_LENGTH = 64;
const CLUSTER_REQUEST = 'live-session';

/**
 * `POST /refresh`, `POST /subscribe` and `POST /unsubscribe`: what a WebSocket does with its
 * `refresh`, `subscribe` and `unsubscribe` ops, for connections without an upstream (SSE,
 * stream). The request names the connection by its clientId and proves it comes from that
 * connection's client with the connection's replaceKey: a clientId alone is no credential,
 * since presence shows a channel's readers each other's. It acts with that connection's own
 * rights; events follow on the open connection. A connection on another node is reached over
 * the control bus, and the node holding it checks the key.
 */
export function liveSessionRoutes(deps: LiveSessionDeps): RouteEntry[] {
  deps.node.handle(CLUSTER_REQUEST, async (body): Promise<NodeAnswer> => {
    const { op, request } = body as { op?: unknown; request?: unknown };
    if (op !== 'refresh' && op !== 'subscribe' && op !== 'unsubscribe') throw new Error('unknown op');
    const parsed = readRequest(op, request);
    const session = ownSession(deps, parsed);
    if (!session) return { found: false };
    try {
      return { found: true, body: await carryOut(deps, session, parsed) };
    } catch (error) {
      const failure = asPushwireError(error);
      return { found: true, error: { code: failure.code, message: failure.message } };
    }
  });
  return (['refresh', 'subscribe', 'unsubscribe'] as const).map((op) => [
    `/${op}`,
    { method: 'POST', handler: (x: Exchange) => serve(deps, x, op) },
  ]);
}

async function serve(deps: LiveSessionDeps, x: Exchange, op: LiveOp): Promise<void> {
  const request = readRequest(op, await readJsonBody(x.req, MAX_BODY_BYTES));
  // A wrong key asks the other nodes too, as an unknown clientId does: the answer (and the
  // time it takes) can't tell a caller that the clientId is open here.
  const session = ownSession(deps, request);
  const body = session ? await carryOut(deps, session, request) : await elsewhere(deps, op, request);
  sendJson(x.res, 200, JSON.stringify(body), x.headers);
}

async function carryOut(
  deps: LiveSessionDeps,
  session: Session,
  request: LiveRequest,
): Promise<Record<string, unknown>> {
  switch (request.op) {
    case 'refresh': {
      const identify = deps.auth.required ? (token: string) => deps.auth.identify(token) : undefined;
      return { expiresAt: await refreshSession(session, identify, request.token, deps.counters) };
    }
    case 'subscribe': {
      const { channel } = request;
      const cursor: Cursor | undefined =
        request.cursor === undefined ? undefined : decodeCursor(request.cursor);
      let reply: Record<string, unknown> = { channel };
      await session.execute({ op: 'subscribe', channel, ...(cursor && { cursor }) }, (result) => {
        const { op: _op, ...fields } = result;
        reply = fields;
      });
      return reply;
    }
    case 'unsubscribe':
      await session.execute({ op: 'unsubscribe', channel: request.channel }, () => {});
      return { channel: request.channel };
  }
}

/** The open connection `request` names, if the request holds its key. */
function ownSession(deps: LiveSessionDeps, { clientId, key }: Addressed): Session | null {
  const session = deps.hub.session(clientId);
  return session?.holdsKey(key) ? session : null;
}

/** Asks every node for the connection; the one that has it (and whose key it is) answers. */
async function elsewhere(
  deps: LiveSessionDeps,
  op: LiveOp,
  request: LiveRequest,
): Promise<Record<string, unknown>> {
  const replies = await deps.node.broadcast(CLUSTER_REQUEST, { op, request });
  for (const reply of replies) {
    if (!reply.ok) continue;
    const answer = reply.body as NodeAnswer;
    if (!answer.found) continue;
    if ('body' in answer) return answer.body;
    const { code, message } = answer.error;
    throw new PushwireError(isErrorCode(code) ? code : 'internal', message);
  }
  // The same answer for an unknown clientId and a wrong or missing key: a clientId can't be probed.
  throw new PushwireError(
    'not_found',
    `no open connection has clientId "${request.clientId}" and that key (the replaceKey of its connected event)`,
  );
}

/** Checks an untrusted body (a request's, or another node's) into a request. */
function readRequest(op: LiveOp, body: unknown): LiveRequest {
  const fields = (typeof body === 'object' && body !== null && !Array.isArray(body) ? body : {}) as Record<
    string,
    unknown
  >;
  const { clientId } = fields;
  if (typeof clientId !== 'string' || clientId === '' || clientId.length > MAX_ID_LENGTH) {
    throw new PushwireError(
      'invalid_request',
      `"clientId" (from the connected event) is a string of 1 to ${MAX_ID_LENGTH} characters`,
    );
  }
  // A missing or malformed key is a wrong one (not_found), not a bad request: the answer
  // mustn't tell a caller whether the clientId it tried is open.
  const key = typeof fields.key === 'string' ? fields.key : '';
  if (op === 'refresh') return { op, clientId, key, token: tokenOf(fields.token) };
  const { channel, cursor } = fields;
  assertChannel(channel);
  if (op === 'unsubscribe') return { op, clientId, key, channel };
  if (cursor !== undefined && cursor !== null && typeof cursor !== 'string') {
    throw new PushwireError('invalid_cursor', 'cursor must be a string');
  }
  return typeof cursor === 'string' ? { op, clientId, key, channel, cursor } : { op, clientId, key, channel };
}
