import type { Hub } from '../core/index.ts';
import { PushwireError } from '../protocol/index.ts';
import { sendJson } from '../transports/index.ts';
import { apiKeyMatches, bearerToken } from './auth.ts';
import type { Config } from './config/index.ts';
import type { ConnectAuth } from './hooks/connect-auth.ts';
import type { Metrics } from './metrics.ts';
import { readJsonBody, readPublishBody } from './request-input.ts';
import type { Exchange, RouteEntry } from './routes.ts';

export interface PublishApiDeps {
  readonly config: Config;
  readonly apiKey: string;
  readonly hub: Hub;
  readonly auth: ConnectAuth;
  readonly metrics: Metrics;
}

/** Envelope for the body a publish request may have beyond its data: channel name, braces. */
const PUBLISH_ENVELOPE_BYTES = 1024;

/** `POST /api/publish` (the server's, with the API key) and `POST /publish` (a client's). */
export function publishRoutes(deps: PublishApiDeps): RouteEntry[] {
  return [
    ['/api/publish', { method: 'POST', handler: (x) => serverPublish(deps, x) }],
    ['/publish', { method: 'POST', handler: (x) => clientPublish(deps, x) }],
  ];
}

async function readPublication({ config }: PublishApiDeps, { req }: Exchange) {
  const limit = config.maxMessageBytes + PUBLISH_ENVELOPE_BYTES;
  return readPublishBody(await readJsonBody(req, limit), config.maxMessageBytes);
}

async function serverPublish(deps: PublishApiDeps, exchange: Exchange): Promise<void> {
  const given = bearerToken(exchange.req, null);
  if (given === null) {
    throw new PushwireError('unauthorized', 'publishing needs the API key: Authorization: Bearer <key>');
  }
  if (!apiKeyMatches(given, deps.apiKey)) {
    throw new PushwireError('unauthorized', 'the API key is wrong: use the key the server was started with');
  }
  if (!deps.hub.running) throw new PushwireError('shutting_down');
  const { channel, data } = await readPublication(deps, exchange);
  const timer = deps.metrics.publishDuration.startTimer();
  const { offset, epoch } = await deps.hub.publish(channel, data);
  timer();
  sendJson(exchange.res, 200, JSON.stringify({ channel, offset, epoch }), exchange.headers);
}

/**
 * A client's publish over HTTP, for clients on SSE, long poll or streaming, with the
 * client's rights. The client is named by `X-Pushwire-Client` (the SDK sends its
 * connection's clientId) within its address, for the client publish rate.
 */
async function clientPublish(deps: PublishApiDeps, exchange: Exchange): Promise<void> {
  const { req, target } = exchange;
  if (!deps.hub.running) throw new PushwireError('shutting_down');
  const identity = await deps.auth.identify(req, target.query, null);
  const { channel, data } = await readPublication(deps, exchange);
  const named = req.headers['x-pushwire-client'];
  const client = typeof named === 'string' ? named.slice(0, 64) : '';
  const key = `${req.socket.remoteAddress ?? ''}|${client}`;
  const { offset, epoch } = await deps.hub.publishAs(
    identity,
    key,
    channel,
    data,
    client === '' ? null : client,
  );
  sendJson(exchange.res, 200, JSON.stringify({ channel, offset, epoch }), exchange.headers);
}
