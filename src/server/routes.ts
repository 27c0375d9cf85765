import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Hub, Identity } from '../core/index.ts';
import { asPushwireError, PushwireError } from '../protocol/index.ts';
import { sendError, type Transport, type Wire } from '../transports/index.ts';
import type { Config } from './config/index.ts';
import { answerSocket, type EdgeLog, isClientGone } from './edge.ts';
import type { ConnectAuth } from './hooks/connect-auth.ts';
import type { Metrics } from './metrics.ts';
import {
  type ReplaceTarget,
  readReplaceTarget,
  readSubscribeQuery,
  type SubscribeQuery,
} from './request-input.ts';
import { type RequestTarget, readTarget } from './request-target.ts';
import type { SessionReplacer } from './session-replacer.ts';

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
  /** Ends the connection a reconnecting client names as the one it replaces. */
  readonly replacer: SessionReplacer;
  readonly report: (stage: string, error: unknown) => void;
  /** Faults and departures of clients, logged without their bytes. */
  readonly edgeLog: EdgeLog;
  /** The client's address (from X-Forwarded-For only behind a trusted proxy). */
  readonly clientAddress: (req: IncomingMessage) => string;
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

/** Answers an upgrade whose handshake its transport refuses (the JSON error); true if it did. */
function refusedHandshake(transport: Transport, req: IncomingMessage, socket: Duplex): boolean {
  const problem = transport.upgradeProblem?.(req);
  if (problem) answerSocket(socket, problem.error, problem.headers);
  return problem != null;
}

/**
 * Idle time before TCP starts probing a push connection's peer: a dead peer of an idle
 * connection (heartbeats off, or a held long poll) is found without our traffic.
 */
export const TCP_KEEPALIVE_MS = 30_000;

const ANY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ 'Access-Control-Allow-Origin': '*' });
const VARY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ Vary: 'Origin' });
/** A WebSocket names its channels later, in its frames. */
const NO_QUERY: SubscribeQuery = Object.freeze({
  channels: [],
  cursor: null,
  wait: true,
  messageCursors: true,
});

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

  /**
   * True if the request was Pushwire's (answered or being answered). The last-resort guard:
   * whatever goes wrong in here is answered `internal` and logged once; nothing a request
   * carries can throw out of it.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    try {
      return this.route(req, res);
    } catch (error) {
      this.lastResort('request', error, () => sendError(res, new PushwireError('internal')));
      if (!res.headersSent) res.destroy();
      return true;
    }
  }

  private route(req: IncomingMessage, res: ServerResponse): boolean {
    const target = readTarget(req.url);
    const route = target && this.routes.get(target.path);
    if (!target || !route) return false;
    const exchange: Exchange = { req, res, target, headers: this.corsHeaders(req) };
    // While draining, answers end their connection: a client must not reuse it to a server
    // that is about to close it under the next request.
    if (!this.deps.hub.running) res.setHeader('Connection', 'close');
    // Before anything else, preflights included: a page of another origin learns nothing,
    // and can make no request that does anything, not even a "simple" one it can't read.
    if (!this.originAllowed(req)) {
      this.error(exchange, new PushwireError('forbidden', 'origin not allowed'));
      return true;
    }
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
    // No promise nor closure per request unless the handler goes async.
    let result: Promise<void> | void;
    try {
      result = route.handler(exchange);
    } catch (error) {
      this.failed(exchange, error);
      return true;
    }
    if (result) result.catch((error: unknown) => this.failed(exchange, error));
    return true;
  }

  /** A handler's failure, answered with the error shape; a failure to answer is a last resort. */
  private failed(exchange: Exchange, error: unknown): void {
    try {
      this.error(exchange, error);
    } catch (answering) {
      this.lastResort('request', answering, () => exchange.res.destroy());
    }
  }

  /**
   * For a server where nothing else handles requests: 400 `invalid_request` for a target that
   * isn't a path (`//a:99999/`, `http://[::1/`), else 404, with the error shape.
   */
  notFound(req: IncomingMessage, res: ServerResponse): void {
    const code = readTarget(req.url) === null ? 'invalid_request' : 'not_found';
    const message = code === 'invalid_request' ? 'the request target must be a path: /…' : undefined;
    sendError(res, new PushwireError(code, message));
    if (code === 'invalid_request') res.once('finish', () => res.socket?.end());
  }

  /**
   * Answers a request refused before it reached a route (a full server, no `Host`) with the
   * error shape, readable by a page of an allowed origin: a browser shows a cross-origin
   * answer without CORS headers to the page as a network failure, and a client that can't see
   * `too_many_connections` and its `Retry-After` retries at once instead of waiting.
   */
  refuseRequest(req: IncomingMessage, res: ServerResponse, refusal: PushwireError): void {
    sendError(res, refusal, this.originAllowed(req) ? this.corsHeaders(req) : undefined);
  }

  /** The same for an upgrade nobody serves: answered on the socket, which is then closed. */
  upgradeNotFound(req: IncomingMessage, socket: Duplex): void {
    const invalid = readTarget(req.url) === null;
    answerSocket(
      socket,
      invalid ? new PushwireError('invalid_request', 'the request target must be a path: /…') : 'not_found',
    );
  }

  /** Refuses an upgrade to one of Pushwire's paths as its transport refuses (a WebSocket close code). */
  refuseUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, error: PushwireError): void {
    try {
      const target = readTarget(req.url);
      const transport = target && this.upgrades.get(target.path);
      if (!transport) {
        answerSocket(socket, error);
        return;
      }
      if (refusedHandshake(transport, req, socket)) return;
      socket.on('error', () => socket.destroy());
      this.refuse(transport, { kind: 'upgrade', req, socket, head }, error, this.corsHeaders(req));
    } catch (failure) {
      this.lastResort('upgrade', failure, () => socket.destroy());
    }
  }

  /** True if the upgrade was Pushwire's. The last-resort guard of upgrades, as `handle`'s. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    try {
      return this.routeUpgrade(req, socket, head);
    } catch (error) {
      this.lastResort('upgrade', error, () => answerSocket(socket, 'internal'));
      return true;
    }
  }

  private routeUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const target = readTarget(req.url);
    const transport = target && this.upgrades.get(target.path);
    if (!target || !transport) return false;
    if (refusedHandshake(transport, req, socket)) return true;
    socket.on('error', destroySocket);
    const wire: Wire = { kind: 'upgrade', req, socket, head };
    const headers = this.corsHeaders(req);
    const refuse = (error: unknown) => {
      try {
        this.refuse(transport, wire, error, headers);
      } catch (failure) {
        this.lastResort('upgrade', failure, () => socket.destroy());
      }
    };
    // Opened at once when there is no token to verify; only a token's verification gives a
    // promise to follow, so an open server's upgrades allocate none.
    let opening: Promise<void> | void;
    try {
      opening = this.open(wire, target, headers, transport);
    } catch (error) {
      refuse(error);
      return true;
    }
    opening?.catch(refuse);
    return true;
  }

  /**
   * A failure no handler caught: a bug. Logged once (without the client's bytes), answered
   * `internal` where an answer can still go out, and never thrown on: the process and every
   * other connection stay up.
   */
  private lastResort(stage: string, error: unknown, answer: () => void): void {
    try {
      this.deps.edgeLog.fault(stage, error);
      this.deps.metrics.httpErrors.inc({ code: 'internal' });
      answer();
    } catch {
      // Nothing more can be done for this client; the others go on.
    }
  }

  /** A transport's path: its connection request, or a plain GET where an upgrade was due. */
  private connect(exchange: Exchange, transport: Transport): Promise<void> | void {
    const { req, res, target, headers } = exchange;
    if (transport.opens === 'upgrade') {
      throw new PushwireError('invalid_request', `GET ${target.path} needs a WebSocket upgrade`);
    }
    const wire: Wire = { kind: 'response', req, res };
    let opening: Promise<void> | void;
    try {
      opening = this.open(wire, target, headers, transport);
    } catch (error) {
      this.refuse(transport, wire, error, headers);
      return;
    }
    if (opening) return opening.catch((error: unknown) => this.refuse(transport, wire, error, headers));
  }

  /**
   * Validates and authenticates a connection request, then hands it to its transport. At once
   * when the identity needs no asking (no token, no connect hook): a promise only otherwise.
   * Throws (or rejects) with the refusal.
   */
  private open(
    wire: Wire,
    target: RequestTarget,
    headers: Readonly<Record<string, string>>,
    transport: Transport,
  ): Promise<void> | void {
    const { deps } = this;
    const { req } = wire;
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    if (!this.originAllowed(req)) throw new PushwireError('forbidden', 'origin not allowed');
    const query =
      transport.opens === 'upgrade'
        ? NO_QUERY
        : readSubscribeQuery(req, target.query, deps.config.maxChannelsPerConnection, transport.cursorHeader);
    const replaces = readReplaceTarget(target.query);
    const known = deps.auth.identifyAtOnce(req, target.query);
    if (known) {
      this.hand(wire, transport, query, replaces, known, headers);
      return;
    }
    return deps.auth
      .identify(req, target.query, transport.name)
      .then((identity) => this.hand(wire, transport, query, replaces, identity, headers));
  }

  /** Hands an authenticated connection request to its transport. */
  private hand(
    wire: Wire,
    transport: Transport,
    query: SubscribeQuery,
    replaces: ReplaceTarget | null,
    identity: Identity,
    headers: Readonly<Record<string, string>>,
  ): void {
    const { deps } = this;
    const { req } = wire;
    if (wire.kind === 'upgrade' && wire.socket.destroyed) return;
    // A peer that vanished without a FIN is found by TCP on idle connections; busy ones by the writer.
    req.socket.setKeepAlive(true, TCP_KEEPALIVE_MS);
    if (replaces) deps.replacer.replace(replaces, identity);
    transport.open(wire, {
      channels: query.channels,
      cursor: query.cursor,
      wait: query.wait,
      messageCursors: query.messageCursors,
      identity,
      headers,
      address: deps.clientAddress(req) || null,
    });
  }

  private refuse(
    transport: Transport,
    wire: Wire,
    error: unknown,
    headers: Readonly<Record<string, string>>,
  ): void {
    const failure = asPushwireError(error);
    this.count(failure, error, wire.kind === 'upgrade' ? wire.socket : wire.req.socket);
    if (wire.kind === 'upgrade' && wire.socket.destroyed) return;
    try {
      transport.refuse(wire, failure, headers);
    } catch (refusing) {
      this.deps.edgeLog.fault('refuse', refusing);
      if (wire.kind === 'upgrade') wire.socket.destroy();
      else wire.res.destroy();
    }
  }

  private error({ req, res, headers }: Exchange, error: unknown): void {
    const failure = asPushwireError(error);
    this.count(failure, error, req.socket);
    // A body we refused to read would otherwise keep the connection busy: close it after.
    if (failure.code === 'payload_too_large' && !res.headersSent) res.setHeader('Connection', 'close');
    sendError(res, failure, headers);
  }

  private count(
    failure: PushwireError,
    error: unknown,
    socket: { readonly destroyed: boolean } | null,
  ): void {
    if (failure.code === 'internal') {
      // A client that left mid-body, or ran out of time, is no fault of ours: no error, no stack.
      if (isClientGone(error, socket)) {
        this.deps.edgeLog.gone('request', error);
        return;
      }
      this.deps.edgeLog.fault('request', error);
    }
    this.deps.metrics.httpErrors.inc({ code: failure.code });
  }

  /** CORS headers for an allowed origin; none for a disallowed one, nor for same-origin requests. */
  private corsHeaders(req: IncomingMessage): Readonly<Record<string, string>> {
    const origins = this.deps.config.corsOrigins;
    if (origins.includes('*')) return ANY_ORIGIN;
    const origin = req.headers.origin;
    if (origin && origins.includes(origin)) return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
    return VARY_ORIGIN;
  }

  /**
   * Whether a request may reach Pushwire as far as origins go. Without an Origin header it is
   * not a browser's cross-origin request (curl, servers, same-origin GETs) and passes. A page
   * of the server's own origin (its host as the request names it) passes; others only when
   * `corsOrigins` lists them, or holds `*`.
   */
  originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const origins = this.deps.config.corsOrigins;
    return origins.includes('*') || origins.includes(origin) || isOwnOrigin(origin, req.headers.host);
  }
}

/**
 * Whether `origin` is the server's own: its host[:port] is the Host the request was sent to.
 * Scheme is not compared: behind a TLS-terminating proxy the server can't see it, and the
 * browser sent both headers for the same URL.
 */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || !URL.canParse(origin)) return false;
  const url = new URL(origin);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const defaultPort = url.protocol === 'https:' ? ':443' : ':80';
  const wanted = host.toLowerCase();
  const bare = wanted.endsWith(defaultPort) ? wanted.slice(0, -defaultPort.length) : wanted;
  return url.host === bare;
}
