import type { Hub } from '../core/index.ts';
import { ERROR_MESSAGES, PushwireError } from '../protocol/index.ts';
import { sendJson } from '../transports/index.ts';
import { failures } from './admin/admin-api.ts';
import type { ApiKeys } from './api-keys.ts';
import type { ClusterNode } from './cluster-node.ts';
import { readJsonBody } from './request-input.ts';
import type { Revocations } from './revocations.ts';
import type { Exchange, RouteEntry } from './routes.ts';

export interface DisconnectApiDeps {
  readonly hub: Hub;
  readonly node: ClusterNode;
  readonly keys: ApiKeys;
  readonly revocations: Revocations;
}

const MAX_BODY_BYTES = 4096;
const MAX_ID_LENGTH = 256;

const DISCONNECTED = {
  code: 'disconnected',
  reason: ERROR_MESSAGES.disconnected,
  reconnectDelayMs: 0,
} as const;

/**
 * `POST /api/disconnect` (API key or admin key): ends a user's or a client's connections on
 * every node with `disconnected` (WebSocket close 4503; SSE and stream an `error` event; a
 * held poll 401). For a user, its tokens issued until now are refused from then on, on every
 * node: the client can't come back without a new token.
 */
export function disconnectRoutes(deps: DisconnectApiDeps): RouteEntry[] {
  deps.node.handle('revoke', (body) => {
    const { user, at } = body as { user?: unknown; at?: unknown };
    if (typeof user !== 'string' || typeof at !== 'number') throw new Error('revoke needs user and at');
    deps.revocations.learn(user, at);
    return true;
  });
  deps.node.handle('disconnect', (body) => {
    const { user, clientId } = body as { user?: unknown; clientId?: unknown };
    if (typeof user === 'string') return deps.hub.disconnect({ userId: user }, DISCONNECTED);
    if (typeof clientId === 'string') return deps.hub.disconnect({ clientId }, DISCONNECTED);
    throw new Error('disconnect needs user or clientId');
  });
  return [['/api/disconnect', { method: 'POST', handler: (x) => disconnect(deps, x) }]];
}

async function disconnect(deps: DisconnectApiDeps, x: Exchange): Promise<void> {
  deps.keys.require(x.req, 'app');
  const target = readTarget(await readJsonBody(x.req, MAX_BODY_BYTES));
  const failed: Array<{ node: string; error: string }> = [];
  if ('user' in target) {
    const at = Date.now();
    await deps.revocations.revoke(target.user, at);
    // Every node knows of the revocation before any connection ends, so that a client cut off
    // here and reconnecting there is refused there too.
    failed.push(...failures(await deps.node.broadcast('revoke', { user: target.user, at })));
  }
  const replies = await deps.node.broadcast('disconnect', target);
  failed.push(...failures(replies));
  const disconnected = replies.reduce((sum, reply) => sum + (reply.ok ? Number(reply.body) : 0), 0);
  if ('clientId' in target && disconnected === 0 && failed.length === 0) {
    throw new PushwireError('not_found', `no connection has clientId "${target.clientId}"`);
  }
  sendJson(x.res, 200, JSON.stringify({ disconnected, failed }), x.headers);
}

function readTarget(body: unknown): { user: string } | { clientId: string } {
  const { user, clientId } = (typeof body === 'object' && body !== null ? body : {}) as Record<
    string,
    unknown
  >;
  const given = [user, clientId].filter((value) => value !== undefined);
  if (given.length !== 1) {
    throw new PushwireError(
      'invalid_request',
      'the body names one of "user" or "clientId": {"user":"alice"}',
    );
  }
  const value = given[0];
  if (typeof value !== 'string' || value === '' || value.length > MAX_ID_LENGTH) {
    throw new PushwireError(
      'invalid_request',
      `"user" or "clientId" is a string of 1 to ${MAX_ID_LENGTH} characters`,
    );
  }
  return user !== undefined ? { user: value } : { clientId: value };
}
