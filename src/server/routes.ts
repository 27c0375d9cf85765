import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Hub } from '../core/index.ts';
import { asPushwireError, PushwireError } from '../protocol/index.ts';
import { sendError, sendJson, type Transport, type Wire } from '../transports/index.ts';
import { apiKeyMatches, bearerToken, type ConnectionAuth } from './auth.ts';
import type { Config } from './config/index.ts';
import type { Metrics } from './metrics.ts';
import { readJsonBody, readPublishBody, readSubscribeQuery } from './request-input.ts';
import { type RequestTarget, readTarget } from './request-target.ts';
import type { StaticFiles } from './static-files.ts';

export interface RouterDeps {
  readonly config: Config;
  readonly apiKey: string;
  readonly hub: Hub;
  readonly auth: ConnectionAuth;
  /** Every transport, each served at its path. */
  readonly transports: readonly Transport[];
  readonly metrics: Metrics;
  readonly staticFiles: StaticFiles;
  /** Paths are served under this prefix ('' or '/push'). */
  readonly prefix: string;
  /** False while draining or while the broker is down. */
  readonly ready: () => boolean;
  readonly report: (stage: string, error: unknown) => void;
}

/** One request as every handler sees it. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly target: RequestTarget;
  /** The CORS headers of this request's answer, whatever it is. */
  readonly headers: Readonly<Record<string, string>>;
}

export type Handler = (exchange: Exchange) => Promise<void> | void;

export interface Route {
  readonly method: 'GET' | 'POST';
  readonly handler: Handler;
}

const ANY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ 'Access-Control-Allow-Origin': '*' });
const VARY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ Vary: 'Origin' });

/** Envelope for the body a publish request may have beyond its data: channel name, braces. */
const PUBLISH_ENVELOPE_BYTES = 1024;

/**
 * Maps Pushwire's paths to handlers: each transport at its path, the publish API, health,
 * metrics and static files. `handle` answers the requests that are Pushwire's and returns
 * false for the rest, so a host application can serve them. Nothing a request carries can
 * make it throw: every failure is answered with the documented error shape.
 */
export class Router {
  private readonly routes = new Map<string, Route>();
  private readonly upgrades = new Map<string, Transport>();

  constructor(private readonly deps: RouterDeps) {
    const p = deps.prefix;
    for (const transport of deps.transports) {
      if (transport.opens === 'upgrade') this.upgrades.set(`${p}${transport.path}`, transport);
      this.routes.set(`${p}${transport.path}`, { method: 'GET', handler: (x) => this.connect(x, transport) });
    }
    const own: [string, Route][] = [
      ['/api/publish', { method: 'POST', handler: (x) => this.publish(x) }],
      ['/publish', { method: 'POST', handler: (x) => this.clientPublish(x) }],
      ['/healthz', { method: 'GET', handler: (x) => sendJson(x.res, 200, '{"status":"ok"}', x.headers) }],
      ['/readyz', { method: 'GET', handler: (x) => this.readyz(x) }],
      ['/metrics', { method: 'GET', handler: (x) => this.metricsText(x) }],
      ...deps.staticFiles.routes('').map(([path, file]): [string, Route] => [
        path,
        {
          method: 'GET',
          handler: (x) => {
            for (const [name, value] of Object.entries(x.headers)) x.res.setHeader(name, value);
            return file.handler(x.req, x.res, new URL('http://pushwire.invalid'));
          },
        },
      ]),
    ];
    for (const [path, route] of own) this.routes.set(`${p}${path}`, route);
  }

  /** True if the request was Pushwire's (answered or being answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const target = readTarget(req.url);
    const route = target && this.routes.get(target.path);
    if (!target || !route) return false;
    const exchange: Exchange = { req, res, target, headers: this.corsHeaders(req) };
    // While draining, answers end their connection: a client must not reuse it to a server
    // that is about to close it under the next request.
    if (!this.deps.hub.running) res.setHeader('Connection', 'close');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...exchange.headers,
        'Access-Control-Allow-Methods': `${route.method}, OPTIONS`,
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Last-Event-ID, X-Pushwire-Client',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return true;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== route.method) {
      this.error(exchange, new PushwireError('method_not_allowed', `use ${route.method} on ${target.path}`));
      return true;
    }
    try {
      Promise.resolve(route.handler(exchange)).catch((error: unknown) => this.error(exchange, error));
    } catch (error) {
      this.error(exchange, error);
    }
    return true;
  }

  /** Answers 404 with the error shape: for a server where nothing else handles requests. */
  notFound(res: ServerResponse): void {
    sendError(res, new PushwireError('not_found'));
  }

  /** True if the upgrade was Pushwire's. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const target = readTarget(req.url);
    const transport = target && this.upgrades.get(target.path);
    if (!target || !transport) return false;
    socket.on('error', () => socket.destroy());
    const wire: Wire = { kind: 'upgrade', req, socket, head };
    const headers = this.corsHeaders(req);
    this.open(wire, target, headers, transport).catch((error: unknown) =>
      this.refuse(transport, wire, error, headers),
    );
    return true;
  }

  /** A transport's path: its connection request, or a plain GET where an upgrade was due. */
  private async connect(exchange: Exchange, transport: Transport): Promise<void> {
    const { req, res, target, headers } = exchange;
    if (transport.opens === 'upgrade') {
      throw new PushwireError('invalid_request', `GET ${target.path} needs a WebSocket upgrade`);
    }
    const wire: Wire = { kind: 'response', req, res };
    await this.open(wire, target, headers, transport).catch((error: unknown) =>
      this.refuse(transport, wire, error, headers),
    );
  }

  /** Validates and authenticates a connection request, then hands it to its transport. */
  private async open(
    wire: Wire,
    target: RequestTarget,
    headers: Readonly<Record<string, string>>,
    transport: Transport,
  ): Promise<void> {
    const { deps } = this;
    const { req } = wire;
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    if (!this.originAllowed(req.headers.origin)) throw new PushwireError('forbidden', 'origin not allowed');
    const query =
      transport.opens === 'upgrade'
        ? { channels: [], cursor: null }
        : readSubscribeQuery(req, target.query, deps.config.maxChannelsPerConnection, transport.cursorHeader);
    const identity = await deps.auth.identify(bearerToken(req, target.query));
    if (wire.kind === 'upgrade' && wire.socket.destroyed) return;
    transport.open(wire, { ...query, identity, headers });
  }

  private refuse(
    transport: Transport,
    wire: Wire,
    error: unknown,
    headers: Readonly<Record<string, string>>,
  ): void {
    const failure = asPushwireError(error);
    this.count(failure, error);
    if (wire.kind === 'upgrade' && wire.socket.destroyed) return;
    try {
      transport.refuse(wire, failure, headers);
    } catch (refusing) {
      this.deps.report('refuse', refusing);
      if (wire.kind === 'upgrade') wire.socket.destroy();
      else wire.res.destroy();
    }
  }

  private async publish({ req, res, headers }: Exchange): Promise<void> {
    const { deps } = this;
    const given = bearerToken(req, null);
    if (given === null) {
      throw new PushwireError('unauthorized', 'publishing needs the API key: Authorization: Bearer <key>');
    }
    if (!apiKeyMatches(given, deps.apiKey)) {
      throw new PushwireError(
        'unauthorized',
        'the API key is wrong: use the key the server was started with',
      );
    }
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    const limit = deps.config.maxMessageBytes + PUBLISH_ENVELOPE_BYTES;
    const { channel, data } = readPublishBody(await readJsonBody(req, limit), deps.config.maxMessageBytes);
    const timer = deps.metrics.publishDuration.startTimer();
    const { offset, epoch } = await deps.hub.publish(channel, data);
    timer();
    sendJson(res, 200, JSON.stringify({ channel, offset, epoch }), headers);
  }

  /**
   * A client's publish over HTTP, for clients on SSE, long poll or streaming, with the
   * client's rights. The client is named by `X-Pushwire-Client` (the SDK sends its
   * connection's clientId) within its address, for the client publish rate.
   */
  private async clientPublish({ req, res, target, headers }: Exchange): Promise<void> {
    const { deps } = this;
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    if (!this.originAllowed(req.headers.origin)) throw new PushwireError('forbidden', 'origin not allowed');
    const identity = await deps.auth.identify(bearerToken(req, target.query));
    const limit = deps.config.maxMessageBytes + PUBLISH_ENVELOPE_BYTES;
    const { channel, data } = readPublishBody(await readJsonBody(req, limit), deps.config.maxMessageBytes);
    const named = req.headers['x-pushwire-client'];
    const client = typeof named === 'string' ? named.slice(0, 64) : '';
    const key = `${req.socket.remoteAddress ?? ''}|${client}`;
    const { offset, epoch } = await deps.hub.publishAs(identity, key, channel, data);
    sendJson(res, 200, JSON.stringify({ channel, offset, epoch }), headers);
  }

  private readyz(exchange: Exchange): void {
    if (this.deps.ready()) sendJson(exchange.res, 200, '{"status":"ready"}', exchange.headers);
    else if (!this.deps.hub.running) this.error(exchange, new PushwireError('shutting_down'));
    else this.error(exchange, new PushwireError('broker_unavailable'));
  }

  private async metricsText({ res, headers }: Exchange): Promise<void> {
    const { registry } = this.deps.metrics;
    const text = await registry.metrics();
    res.writeHead(200, { ...headers, 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
    res.end(text);
  }

  private error({ res, headers }: Exchange, error: unknown): void {
    const failure = asPushwireError(error);
    this.count(failure, error);
    // A body we refused to read would otherwise keep the connection busy: close it after.
    if (failure.code === 'payload_too_large' && !res.headersSent) res.setHeader('Connection', 'close');
    sendError(res, failure, headers);
  }

  private count(failure: PushwireError, error: unknown): void {
    if (failure.code === 'internal') this.deps.report('request', error);
    this.deps.metrics.httpErrors.inc({ code: failure.code });
  }

  private corsHeaders(req: IncomingMessage): Readonly<Record<string, string>> {
    const origins = this.deps.config.corsOrigins;
    if (origins.includes('*')) return ANY_ORIGIN;
    const origin = req.headers.origin;
    if (origin && origins.includes(origin)) return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
    return VARY_ORIGIN;
  }

  private originAllowed(origin: string | undefined): boolean {
    const origins = this.deps.config.corsOrigins;
    return origin === undefined || origins.includes('*') || origins.includes(origin);
  }
}
