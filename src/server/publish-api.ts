import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Hub } from '../core/index.ts';
import {
  asPushwireError,
  isSystemChannel,
  type PublishInput,
  PushwireError,
  readPublications,
} from '../protocol/index.ts';
import { sendJson } from '../transports/index.ts';
import type { ApiKeys } from './api-keys.ts';
import type { Config } from './config/index.ts';
import type { ConnectAuth } from './hooks/connect-auth.ts';
import type { Metrics } from './metrics.ts';
import { PUBLISH_ENVELOPE_BYTES, readPublishRequest, readPublishText } from './request-input.ts';
import type { Exchange, RouteEntry } from './routes.ts';

export interface PublishApiDeps {
  readonly config: Config;
  readonly keys: ApiKeys;
  readonly hub: Hub;
  readonly auth: ConnectAuth;
  readonly metrics: Metrics;
  /** The client's address (from X-Forwarded-For only behind a trusted proxy). */
  readonly clientAddress: (req: IncomingMessage) => string;
}

/** A list of publications may be this large in all (or one message's limit, if larger). */
const BATCH_BODY_BYTES = 1024 * 1024;
/** The most publications one request may list. */
export const MAX_BATCH = 1000;

/** `POST /api/publish` (the server's, with the API key) and `POST /publish` (a client's). */
export function publishRoutes(deps: PublishApiDeps): RouteEntry[] {
  return [
    ['/api/publish', { method: 'POST', handler: (x) => serverPublish(deps, x) }],
    ['/publish', { method: 'POST', handler: (x) => clientPublish(deps, x) }],
  ];
}

/**
 * `{"channel","data"}`, or `{"publications":[{"channel","data"},…]}` answered in order with
 * one result each. A list is checked whole before anything is published; a broker failure
 * fails only the publications it hit.
 */
async function serverPublish(deps: PublishApiDeps, exchange: Exchange): Promise<void> {
  deps.keys.require(exchange.req, 'app');
  if (!deps.hub.running) throw new PushwireError('shutting_down');
  const { config } = deps;
  const limit = Math.max(BATCH_BODY_BYTES, config.maxMessageBytes + PUBLISH_ENVELOPE_BYTES);
  const text = await readPublishText(exchange.req, limit);
  const { list, publications } = readPublications(text, config.maxMessageBytes, MAX_BATCH);
  for (const [i, { channel }] of publications.entries()) {
    refuseSystemChannel(channel, list ? `publications[${i}]: ` : '');
  }
  if (list) return publishBatch(deps, exchange, publications);
  const { channel, data } = publications[0]!;
  const timer = deps.metrics.publishDuration.startTimer();
  const { offset, epoch } = await deps.hub.publish(channel, data);
  timer();
  sendJson(exchange.res, 200, JSON.stringify({ channel, offset, epoch }), exchange.headers);
}

async function publishBatch(
  deps: PublishApiDeps,
  exchange: Exchange,
  publications: readonly PublishInput[],
): Promise<void> {
  // Started in order on one broker connection, they are applied in order.
  const results = await Promise.all(
    publications.map(({ channel, data }) => {
      const timer = deps.metrics.publishDuration.startTimer();
      return deps.hub.publish(channel, data).then(
        ({ offset, epoch }) => {
          timer();
          return { channel, offset, epoch };
        },
        (error: unknown) => ({ channel, error: asPushwireError(error).toBody().error }),
      );
    }),
  );
  sendJson(exchange.res, 200, JSON.stringify({ results }), exchange.headers);
}

/** The server API publishes on any channel but the server's own. */
function refuseSystemChannel(channel: string, where: string): void {
  if (isSystemChannel(channel)) {
    throw new PushwireError(
      'forbidden',
      `${where}"${channel}" is the server's own: only the server publishes there`,
    );
  }
}

/** The server's name for each HTTP connection, for the per-connection publish rate. */
const connectionIds = new WeakMap<Socket, string>();
let nextConnectionId = 0;

function connectionOf(socket: Socket): string {
  let id = connectionIds.get(socket);
  if (id === undefined) {
    id = `http-${++nextConnectionId}`;
    connectionIds.set(socket, id);
  }
  return id;
}

/**
 * A client's publish over HTTP, for clients on SSE, long poll or streaming, with the
 * client's rights, limited by the client publish rate of its HTTP connection and of its
 * address. `X-Pushwire-Client` (the SDK sends its connection's clientId) only names the client
 * to the application: it is the client's word, so it never picks a rate-limit bucket.
 */
async function clientPublish(deps: PublishApiDeps, exchange: Exchange): Promise<void> {
  const { req, target } = exchange;
  if (!deps.hub.running) throw new PushwireError('shutting_down');
  const identity = await deps.auth.identify(req, target.query, null);
  const { channel, data } = await readPublishRequest(req, deps.config.maxMessageBytes);
  const named = req.headers['x-pushwire-client'];
  const client = typeof named === 'string' ? named.slice(0, 64) : '';
  const limits = { connection: connectionOf(req.socket), address: deps.clientAddress(req) || null };
  const { offset, epoch } = await deps.hub.publishAs(
    identity,
    limits,
    channel,
    data,
    client === '' ? null : client,
  );
  sendJson(exchange.res, 200, JSON.stringify({ channel, offset, epoch }), exchange.headers);
}
