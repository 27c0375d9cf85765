import type { NodeReply } from '../../brokers/index.ts';
import type { Hub, Identity, Session } from '../../core/index.ts';
import {
  assertChannel,
  cursorSegment,
  decodeCursor,
  type Publication,
  PushwireError,
} from '../../protocol/index.ts';
import { sendJson } from '../../transports/index.ts';
import type { ApiKeys } from '../api-keys.ts';
import type { ClusterNode } from '../cluster-node.ts';
import type { Exchange, RouteEntry } from '../routes.ts';
import type { NodeStats } from './node-stats.ts';
import type { OperatorTokens } from './operator-tokens.ts';

export interface AdminApiDeps {
  readonly hub: Hub;
  readonly node: ClusterNode;
  readonly stats: NodeStats;
  readonly keys: ApiKeys;
  /** null when the admin API is off (no admin key). */
  readonly operatorTokens: OperatorTokens | null;
}

/** One connection as GET /api/connections lists it. */
export interface ConnectionInfo {
  readonly clientId: string;
  readonly node: string;
  readonly user: string | null;
  readonly transport: string;
  readonly address: string | null;
  readonly channels: readonly string[];
  readonly connectedAt: number;
  readonly bytesQueued: number;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const MAX_TEXT = 256;

/** The operator reads every channel, the server's own included, but publishes nowhere. */
const OPERATOR_READ: Identity = Object.freeze({
  userId: null,
  system: true,
  subscribe: 'all',
  publish: Object.freeze([]),
});

/**
 * The operator's API, with the admin key: this node and every node (`/api/info`), channels
 * with their subscriber counts across nodes, presence, history and connections, and the
 * dashboard's token. Bus requests `info` and `connections` gather the other nodes' parts.
 */
export function adminRoutes(deps: AdminApiDeps): RouteEntry[] {
  const { node, hub, stats } = deps;
  node.handle('info', () => stats.snapshot());
  node.handle('connections', (body) => listConnections(hub, node.info.id, readConnectionQuery(body)));
  const admin = (handler: (x: Exchange) => Promise<void>) => (x: Exchange) => {
    if (!deps.operatorTokens) {
      throw new PushwireError('not_found', 'the admin API is off: start the server with --admin-key');
    }
    deps.keys.require(x.req, 'admin');
    return handler(x);
  };
  return [
    ['/api/info', { method: 'GET', handler: admin((x) => info(deps, x)) }],
    ['/api/channels', { method: 'GET', handler: admin((x) => channels(deps, x)) }],
    ['/api/presence', { method: 'GET', handler: admin((x) => presence(deps, x)) }],
    ['/api/history', { method: 'GET', handler: admin((x) => history(deps, x)) }],
    ['/api/connections', { method: 'GET', handler: admin((x) => connections(deps, x)) }],
    ['/api/admin-token', { method: 'POST', handler: admin((x) => adminToken(deps, x)) }],
  ];
}

async function info({ node }: AdminApiDeps, x: Exchange): Promise<void> {
  const replies = await node.broadcast('info', null);
  const nodes = replies.map((reply) => (reply.ok ? reply.body : { node: reply.node, error: reply.error }));
  send(x, { node: node.info.id, nodes });
}

async function channels({ node }: AdminApiDeps, x: Exchange): Promise<void> {
  const query = x.target.query;
  const prefix = text(query, 'prefix') ?? '';
  const after = text(query, 'after') ?? undefined;
  await node.flush();
  const page = await node.cluster.channels({ prefix, after, limit: limitOf(query) });
  send(x, page);
}

async function presence({ hub }: AdminApiDeps, x: Exchange): Promise<void> {
  const channel = channelOf(x);
  hub.access.assertPresence(OPERATOR_READ, channel);
  send(x, { channel, clients: await hub.presenceOf(channel) });
}

/** Newest first; or, after a cursor, the messages that follow it, oldest first. */
async function history({ hub }: AdminApiDeps, x: Exchange): Promise<void> {
  const channel = channelOf(x);
  const limit = limitOf(x.target.query);
  const cursorText = text(x.target.query, 'cursor');
  let publications: readonly Publication[];
  let top: { epoch: string; offset: number };
  if (cursorText !== null) {
    const since = decodeCursor(cursorText).get(channel);
    if (!since) throw new PushwireError('invalid_cursor', `the cursor does not name "${channel}"`);
    ({ publications, top } = await hub.history(channel, { since, limit }));
  } else {
    const read = await hub.history(channel, { limit });
    publications = [...read.publications].reverse();
    top = read.top;
  }
  // The data is JSON text already: put it in as it is, never parsed and re-encoded.
  const messages = publications.map(
    (p) =>
      `{"channel":"${p.channel}","offset":${p.offset},"epoch":"${p.epoch}","time":${p.time},` +
      `"data":${p.data},"cursor":"1${cursorSegment(p.channel, p.epoch, p.offset)}"}`,
  );
  sendJson(
    x.res,
    200,
    `{"channel":"${channel}","epoch":"${top.epoch}","offset":${top.offset},"messages":[${messages.join(',')}]}`,
    x.headers,
  );
}

async function connections({ node }: AdminApiDeps, x: Exchange): Promise<void> {
  const query = readConnectionQuery({
    user: text(x.target.query, 'user'),
    channel: text(x.target.query, 'channel'),
    limit: limitOf(x.target.query),
  });
  const replies = await node.broadcast('connections', query);
  const listed = replies.flatMap((reply) => (reply.ok ? (reply.body as ConnectionInfo[]) : []));
  listed.sort((a, b) => a.connectedAt - b.connectedAt || (a.clientId < b.clientId ? -1 : 1));
  send(x, { connections: listed.slice(0, query.limit), failed: failures(replies) });
}

function adminToken({ operatorTokens }: AdminApiDeps, x: Exchange): Promise<void> {
  send(x, operatorTokens!.issue());
  return Promise.resolve();
}

interface ConnectionQuery {
  readonly user: string | null;
  readonly channel: string | null;
  readonly limit: number;
}

/** The query as a bus request carries it; checked again on the receiving node. */
function readConnectionQuery(body: unknown): ConnectionQuery {
  const { user, channel, limit } = (body ?? {}) as Record<string, unknown>;
  if (typeof channel === 'string') assertChannel(channel);
  return {
    user: typeof user === 'string' ? user.slice(0, MAX_TEXT) : null,
    channel: typeof channel === 'string' ? channel : null,
    limit:
      typeof limit === 'number' && Number.isSafeInteger(limit)
        ? Math.min(Math.max(limit, 1), MAX_LIMIT)
        : DEFAULT_LIMIT,
  };
}

function listConnections(hub: Hub, node: string, query: ConnectionQuery): ConnectionInfo[] {
  const sessions = hub.sessionsMatching({
    ...(query.user === null ? {} : { userId: query.user }),
    ...(query.channel === null ? {} : { channel: query.channel }),
  });
  return sessions.slice(0, query.limit).map((session) => describe(session, node));
}

function describe(session: Session, node: string): ConnectionInfo {
  return {
    clientId: session.id,
    node,
    user: session.userId,
    transport: session.transport,
    address: session.address,
    channels: [...session.channels()],
    connectedAt: session.connectedAt,
    bytesQueued: session.bufferedBytes,
  };
}

/** The nodes that didn't answer, for the operator to see that a list is partial. */
export function failures(replies: readonly NodeReply[]): Array<{ node: string; error: string }> {
  return replies.flatMap((reply) => (reply.ok ? [] : [{ node: reply.node, error: reply.error }]));
}

function channelOf(x: Exchange): string {
  const channel = x.target.query.get('channel');
  if (channel === null) throw new PushwireError('invalid_request', 'give the channel: ?channel=NAME');
  assertChannel(channel);
  return channel;
}

function text(query: URLSearchParams, name: string): string | null {
  const value = query.get(name);
  if (value === null || value === '') return null;
  if (value.length > MAX_TEXT)
    throw new PushwireError('invalid_request', `${name} is longer than ${MAX_TEXT} characters`);
  return value;
}

function limitOf(query: URLSearchParams): number {
  const raw = query.get('limit');
  if (raw === null || raw === '') return DEFAULT_LIMIT;
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1) {
    throw new PushwireError('invalid_request', `limit must be a whole number from 1 to ${MAX_LIMIT}`);
  }
  return Math.min(Number(raw), MAX_LIMIT);
}

function send(x: Exchange, body: unknown): void {
  sendJson(x.res, 200, JSON.stringify(body), x.headers);
}
