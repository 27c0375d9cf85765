import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Hub } from '../core/index.ts';
import { asPushwireError, PushwireError } from '../protocol/index.ts';
import { sendError, type Transport, type Wire } from '../transports/index.ts';
import type { Config } from './config/index.ts';
import type { ConnectAuth } from './hooks/connect-auth.ts';
import type { Metrics } from './metrics.ts';
import { readSubscribeQuery } from './request-input.ts';
import { type RequestTarget, readTarget } from './request-target.ts';

export interface RouterDeps {
  readonly config: Config;
  readonly hub: Hub;
  readonly auth: ConnectAuth;
  /** Every transport, each served at its path. */
  readonly transports: readonly Transport[];
  /** Every other endpoint (publish API, health, static files …), by path. */
  readonly routes: readonly RouteEntry[];
  readonly metrics: Metrics;
  /** Paths are served under this prefix ('' or '/push'). */
  readonly prefix: string;
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

/** A route at its path under the prefix. */
export type RouteEntry = readonly [path: string, route: Route];

/**
 * An upgraded socket's error listener. Not a closure: one made here would share its scope
 * with the request and keep it (headers and all, ~1.5 KB) for as long as the connection lives.
 */
function destroySocket(this: Duplex): void {
  this.destroy();
}

const ANY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ 'Access-Control-Allow-Origin': '*' });
const VARY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ Vary: 'Origin' });

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
    for (const [path, route] of deps.routes) this.routes.set(`${p}${path}`, route);
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
    if (!this.originAllowed(req.headers.origin)) {
      this.error(exchange, new PushwireError('forbidden', 'origin not allowed'));
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
    socket.on('error', destroySocket);
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
    const identity = await deps.auth.identify(req, target.query, transport.name);
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

  /** Whether a browser request from `origin` may reach Pushwire (no Origin: not a browser). */
  originAllowed(origin: string | undefined): boolean {
    const origins = this.deps.config.corsOrigins;
    return origin === undefined || origins.includes('*') || origins.includes(origin);
  }
}
