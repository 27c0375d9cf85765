import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { Hub } from '../core/index.ts';
import { asPushwireError, type ErrorCode, encodeErrorFrame, PushwireError } from '../protocol/index.ts';
import {
  type SubscribeParams,
  sendError,
  sendJson,
  serveNdjsonStream,
  servePoll,
  serveSse,
  serveWebSocket,
  type TransportContext,
} from '../transports/index.ts';
import { apiKeyMatches, bearerToken, type ConnectionAuth } from './auth.ts';
import type { Config } from './config/index.ts';
import type { Metrics } from './metrics.ts';
import { readJsonBody, readPublishBody, readSubscribeQuery } from './request-input.ts';
import type { StaticFiles } from './static-files.ts';

export interface RouterDeps {
  readonly config: Config;
  readonly apiKey: string;
  readonly hub: Hub;
  readonly auth: ConnectionAuth;
  readonly transports: TransportContext;
  readonly wss: WebSocketServer;
  readonly metrics: Metrics;
  readonly staticFiles: StaticFiles;
  /** Paths are served under this prefix ('' or '/push'). */
  readonly prefix: string;
  /** False while draining or while the broker is down. */
  readonly ready: () => boolean;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;

const ANY_ORIGIN: Readonly<Record<string, string>> = Object.freeze({ 'Access-Control-Allow-Origin': '*' });
/** Subscribe paths pass their CORS headers to writeHead themselves: held responses stay lean. */
const STREAMING = new Set(['sse', 'stream', 'poll']);

/** Envelope for the body a publish request may have beyond its data: channel name, braces. */
const PUBLISH_ENVELOPE_BYTES = 1024;

/**
 * Maps Pushwire's paths to handlers. `handle` answers the requests that are Pushwire's and
 * returns false for the rest, so a host application can serve them.
 */
export class Router {
  private readonly routes: Map<string, { method: string; handler: Handler }>;

  constructor(private readonly deps: RouterDeps) {
    const streaming = (serve: typeof serveSse, useLastEventId: boolean): Handler => {
      return (req, res, url) => this.subscribe(req, res, url, serve, useLastEventId);
    };
    const p = deps.prefix;
    this.routes = new Map<string, { method: string; handler: Handler }>([
      [`${p}/sse`, { method: 'GET', handler: streaming(serveSse, true) }],
      [`${p}/stream`, { method: 'GET', handler: streaming(serveNdjsonStream, false) }],
      [`${p}/poll`, { method: 'GET', handler: streaming(servePoll, false) }],
      [
        `${p}/ws`,
        { method: 'GET', handler: () => fail('invalid_request', 'GET /ws needs a WebSocket upgrade') },
      ],
      [`${p}/api/publish`, { method: 'POST', handler: (req, res) => this.publish(req, res) }],
      [`${p}/publish`, { method: 'POST', handler: (req, res, url) => this.clientPublish(req, res, url) }],
      [`${p}/healthz`, { method: 'GET', handler: (_req, res) => sendJson(res, 200, '{"status":"ok"}') }],
      [`${p}/readyz`, { method: 'GET', handler: (_req, res) => this.readyz(res) }],
      [`${p}/metrics`, { method: 'GET', handler: (_req, res) => this.metricsText(res) }],
      ...deps.staticFiles.routes(p),
    ]);
  }

  /** True if the request was Pushwire's (answered or being answered). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://pushwire.invalid');
    const route = this.routes.get(url.pathname);
    if (!route) return false;
    // While draining, answers end their connection: a client must not reuse it to a server
    // that is about to close it under the next request.
    if (!this.deps.hub.running) res.setHeader('Connection', 'close');
    const cors = this.corsHeaders(req);
    if (!STREAMING.has(url.pathname.slice(this.deps.prefix.length + 1)) || req.method === 'OPTIONS') {
      for (const [name, value] of Object.entries(cors)) res.setHeader(name, value);
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': `${route.method}, OPTIONS`,
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, Last-Event-ID, X-Pushwire-Client',
        'Access-Control-Max-Age': '600',
      });
      res.end();
      return true;
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    if (method !== route.method) {
      this.error(res, new PushwireError('method_not_allowed', `use ${route.method} on ${url.pathname}`));
      return true;
    }
    Promise.resolve()
      .then(() => route.handler(req, res, url))
      .catch((error: unknown) => this.error(res, error));
    return true;
  }

  /** Answers 404 with the error shape: for a server where nothing else handles requests. */
  notFound(res: ServerResponse): void {
    this.error(res, new PushwireError('not_found'));
  }

  /** True if the upgrade was Pushwire's. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://pushwire.invalid');
    if (url.pathname !== `${this.deps.prefix}/ws`) return false;
    socket.on('error', () => socket.destroy());
    this.upgrade(req, socket, head, url).catch((error: unknown) =>
      this.refuseUpgrade(req, socket, head, error),
    );
    return true;
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const { deps } = this;
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    if (!this.originAllowed(req.headers.origin)) throw new PushwireError('forbidden', 'origin not allowed');
    const identity = await deps.auth.identify(bearerToken(req, url.searchParams));
    if (socket.destroyed) return;
    deps.wss.handleUpgrade(req, socket, head, (ws) => serveWebSocket(deps.transports, ws, socket, identity));
  }

  /**
   * Browsers never show a script the status of a refused upgrade, so a refusal completes the
   * handshake, says why in an error frame and closes with the error's close code. A request
   * that is no valid handshake gets the HTTP status from ws instead.
   */
  private refuseUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, error: unknown): void {
    if (socket.destroyed) return;
    const failure = asPushwireError(error);
    if (failure.code === 'internal') this.deps.transports.report('upgrade', error);
    this.deps.metrics.httpErrors.inc({ code: failure.code });
    this.deps.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(encodeErrorFrame(undefined, failure.code, failure.message));
      ws.close(failure.closeCode, failure.code);
      setTimeout(() => ws.terminate(), 1000).unref();
    });
  }

  private async subscribe(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    serve: (context: TransportContext, res: ServerResponse, p: SubscribeParams) => Promise<void>,
    useLastEventId: boolean,
  ): Promise<void> {
    const { deps } = this;
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    const query = readSubscribeQuery(
      req,
      url.searchParams,
      deps.config.maxChannelsPerConnection,
      useLastEventId,
    );
    const identity = await deps.auth.identify(bearerToken(req, url.searchParams));
    try {
      await serve(deps.transports, res, { ...query, identity, headers: this.corsHeaders(req) });
    } catch (error) {
      for (const [name, value] of Object.entries(this.corsHeaders(req))) res.setHeader(name, value);
      throw error;
    }
  }

  private async publish(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { deps } = this;
    if (!apiKeyMatches(bearerToken(req, null), deps.apiKey)) {
      throw new PushwireError('unauthorized', 'publishing needs the API key: Authorization: Bearer <key>');
    }
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    const limit = deps.config.maxMessageBytes + PUBLISH_ENVELOPE_BYTES;
    const { channel, data } = readPublishBody(await readJsonBody(req, limit), deps.config.maxMessageBytes);
    const timer = deps.metrics.publishDuration.startTimer();
    const { offset, epoch } = await deps.hub.publish(channel, data);
    timer();
    sendJson(res, 200, JSON.stringify({ channel, offset, epoch }));
  }

  /**
   * A client's publish over HTTP, for clients on SSE, long poll or streaming: allowed where
   * the channel's namespace (or the client's token) lets clients publish, and rate-limited per
   * client. The client is named by `X-Pushwire-Client` (the SDK sends its connection's
   * clientId) within its address: the limit stops runaway tabs, not a determined attacker.
   */
  private async clientPublish(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const { deps } = this;
    if (!deps.hub.running) throw new PushwireError('shutting_down');
    const identity = await deps.auth.identify(bearerToken(req, url.searchParams));
    const limit = deps.config.maxMessageBytes + PUBLISH_ENVELOPE_BYTES;
    const { channel, data } = readPublishBody(await readJsonBody(req, limit), deps.config.maxMessageBytes);
    const named = req.headers['x-pushwire-client'];
    const client = typeof named === 'string' ? named.slice(0, 64) : '';
    const key = `${req.socket.remoteAddress ?? ''}|${client}`;
    const { offset, epoch } = await deps.hub.publishFrom(identity, key, channel, data);
    sendJson(res, 200, JSON.stringify({ channel, offset, epoch }), this.corsHeaders(req));
  }

  private readyz(res: ServerResponse): void {
    if (this.deps.ready()) sendJson(res, 200, '{"status":"ready"}');
    else if (!this.deps.hub.running) this.error(res, new PushwireError('shutting_down'));
    else this.error(res, new PushwireError('broker_unavailable'));
  }

  private async metricsText(res: ServerResponse): Promise<void> {
    const { registry } = this.deps.metrics;
    const text = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' });
    res.end(text);
  }

  private error(res: ServerResponse, error: unknown): void {
    const code: ErrorCode = error instanceof PushwireError ? error.code : 'internal';
    if (code === 'internal') this.deps.transports.report('request', error);
    this.deps.metrics.httpErrors.inc({ code });
    // A body we refused to read would otherwise keep the connection busy: close it after.
    if (code === 'payload_too_large') res.setHeader('Connection', 'close');
    sendError(res, error);
  }

  private corsHeaders(req: IncomingMessage): Readonly<Record<string, string>> {
    const origins = this.deps.config.corsOrigins;
    if (origins.includes('*')) return ANY_ORIGIN;
    const origin = req.headers.origin;
    if (origin && origins.includes(origin)) return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
    return { Vary: 'Origin' };
  }

  private originAllowed(origin: string | undefined): boolean {
    const origins = this.deps.config.corsOrigins;
    return origin === undefined || origins.includes('*') || origins.includes(origin);
  }
}

function fail(code: ErrorCode, message: string): never {
  throw new PushwireError(code, message);
}
