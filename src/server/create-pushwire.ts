import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import {
  type Broker,
  type Logger as BrokerLogger,
  hasCluster,
  hasHealth,
  LocalCluster,
  MemoryBroker,
  type NodeInfo,
  RedisBroker,
} from '../brokers/index.ts';
import { Hub } from '../core/index.ts';
import { isSystemChannel, PushwireError, publicationOfValue } from '../protocol/index.ts';
import {
  createTransports,
  HeartbeatWheel,
  newTransportCounters,
  OutboundBudget,
  type Transport,
} from '../transports/index.ts';
import { adminRoutes } from './admin/admin-api.ts';
import { dashboardRoutes } from './admin/dashboard.ts';
import { NodeStats } from './admin/node-stats.ts';
import { OperatorTokens } from './admin/operator-tokens.ts';
import { StatsFeed, SYSTEM_CHANNEL_OPTIONS } from './admin/stats-feed.ts';
import { ApiKeys } from './api-keys.ts';
import { Arrivals } from './arrivals.ts';
import { ConnectionAuth, type TokenOptions } from './auth.ts';
import { ClusterNode } from './cluster-node.ts';
import { ClusterOccupancy } from './cluster-occupancy.ts';
import {
  type Config,
  ConfigError,
  DEFAULTS,
  resolveChannelOptions,
  secretProblems,
  topLevelOf,
} from './config/index.ts';
import { ConnectionLimits } from './connection-limits.ts';
import { disconnectRoutes } from './disconnect-api.ts';
import { answerSocket, clientErrorOf, type EdgeLog, edgeLogOf } from './edge.ts';
import { healthRoutes, metricsRoutes } from './health.ts';
import { createHooks } from './hooks/setup.ts';
import { type InternalListener, listenInternal } from './internal-listener.ts';
import { liveSessionRoutes } from './live-session-api.ts';
import { createLogger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { publishRoutes } from './publish-api.ts';
import { Revocations } from './revocations.ts';
import { type RouteEntry, Router } from './routes.ts';
import { SessionReplacer } from './session-replacer.ts';
import { StaticFiles } from './static-files.ts';

export interface PushwireOptions extends Partial<Config> {
  /** A broker of your own; otherwise `broker` ('memory' or 'redis') picks one. */
  readonly brokerInstance?: Broker;
  readonly logger?: Logger;
  /** Serve every path under this prefix, e.g. '/push' for /push/ws, /push/sse, … */
  readonly prefix?: string;
  /** Set by `pushwire serve --workers` in each worker process; embedders leave it out. */
  readonly worker?: WorkerRole;
}

/** How a worker of `pushwire serve --workers` differs from a process on its own. */
export interface WorkerRole {
  /** What /api/info names as the broker (the worker's own broker only reaches the primary's). */
  readonly brokerKind: string;
  /** Given this instance's registry, what /metrics answers: every worker's metrics together. */
  metrics(local: Registry): () => Promise<string>;
}

export interface PublishResult {
  readonly channel: string;
  readonly offset: number;
  readonly epoch: string;
}

export interface Pushwire {
  /** The key that POST /api/publish requires (generated when none was configured). */
  readonly apiKey: string;
  readonly config: Config;
  /** This node's id in the cluster; client ids (`connected`) start with it. */
  readonly nodeId: string;
  /** Where the internal listener (`internalPort`) serves /metrics, /api/* and /admin; null without one. */
  readonly internalUrl: string | null;
  /** Publishes from server-side code; `data` is any JSON value. */
  publish(channel: string, data: unknown): Promise<PublishResult>;
  /** For frameworks: answers Pushwire's paths and returns true, else returns false. */
  handleRequest(req: IncomingMessage, res: ServerResponse): boolean;
  /** Open client connections. */
  connectionCount(): number;
  /** Stops taking connections and tells every client to reconnect; finishes accepted publishes. */
  drain(): Promise<void>;
  /** Drains, then removes Pushwire's listeners from the server (which stays yours) and closes the broker. */
  close(): Promise<void>;
}

/** Reconnect hints after a drain spread clients over this long, so they don't return as one herd. */
const RECONNECT_SPREAD_MS = 3000;
/** A connection with this many unsent bytes is a slow consumer and is cut. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/**
 * A channel long polls come back to stays followed this long after its last poll: between
 * two polls of a client nobody is on it, and its position must stay known.
 */
const POLL_LINGER_MS = 10_000;

/**
 * Attaches Pushwire to a `node:http` server: its paths (and WebSocket upgrades at /ws) are
 * served, everything else still goes to the server's own request listeners.
 */
export async function createPushwire(server: Server, options: PushwireOptions = {}): Promise<Pushwire> {
  const { brokerInstance, logger: givenLogger, prefix = '', worker, ...overrides } = options;
  // Embedded, the demo is off unless asked for: the host's own `/` stays the host's.
  // Embedded, connection caps are off unless asked for: the host's server, and the host's
  // own connections on it, are the host's.
  const config = withDemoNamespace(Object.freeze({ ...DEFAULTS, ...EMBEDDED_DEFAULTS, ...overrides }));
  // The same floor as `serve`'s: a library user's short key is as guessable as anyone's.
  const [tooShort] = secretProblems(config);
  if (tooShort !== undefined) throw new ConfigError([tooShort]);
  const logger = givenLogger ?? createLogger(config);
  if (config.demo && !Object.hasOwn(overrides.namespaces ?? {}, DEMO_NAMESPACE)) {
    logger.info(
      { namespace: DEMO_NAMESPACE },
      `demo on: clients may publish on ${DEMO_NAMESPACE}:* channels (configure namespaces.${DEMO_NAMESPACE}, or --no-demo)`,
    );
  }
  const apiKey = config.apiKey ?? randomBytes(18).toString('base64url');
  const keys = new ApiKeys(apiKey, config.adminKey);
  const report = (stage: string, error: unknown) =>
    logger.warn({ err: error, stage }, `pushwire: ${stage} failed`);
  const edgeLog = edgeLogOf(logger);

  const broker = brokerInstance ?? makeBroker(config, logger);
  const cluster = hasCluster(broker) ? broker.cluster : new LocalCluster();
  const revocations = new Revocations(cluster, config.revocationTtlMs, report);
  const operatorTokens = config.adminKey === null ? null : new OperatorTokens(config.adminKey);
  const auth = new ConnectionAuth(tokenOptionsOf(config), { revocations, operatorTokens });
  // A broker without a cluster view of its own gets one of this node alone: not the cluster's.
  const occupancy = new ClusterOccupancy(hasCluster(broker));
  const hooks = createHooks({ config, occupancy, tokens: auth, logger });
  const arrivals = new Arrivals();
  const hub = new Hub({
    broker,
    connectionsArriving: arrivals.arriving,
    channelOptions: (channel) =>
      isSystemChannel(channel) ? SYSTEM_CHANNEL_OPTIONS : resolveChannelOptions(config, channel),
    maxChannelsPerSession: config.maxChannelsPerConnection,
    clockSkewMs: config.tokenClockSkewMs,
    presenceTtlMs: config.presenceTtlMs,
    clientPublishRate: config.clientPublishRate === 0 ? null : config.clientPublishRate,
    clientPublishRatePerIp: config.clientPublishRatePerIp === 0 ? null : config.clientPublishRatePerIp,
    report,
    ...(hooks.lifecycle && { lifecycle: hooks.lifecycle }),
    ...(hooks.accessHook && { accessHook: hooks.accessHook }),
  });
  await hub.start();
  const info: NodeInfo = { id: hub.nodeId, version: VERSION, startedAt: Date.now(), host: hostname() };
  const node = new ClusterNode(cluster, info, hub, report);
  occupancy.attach(node);
  await node.start();
  await revocations.start();

  const heartbeat =
    config.heartbeatIntervalMs === null
      ? null
      : new HeartbeatWheel({ intervalMs: config.heartbeatIntervalMs, timeoutMs: config.heartbeatTimeoutMs });
  const transportCounters = newTransportCounters();
  const outbound = new OutboundBudget(config.maxOutboundMemory);
  const transports = createTransports({
    hub,
    heartbeat,
    maxBufferedBytes: MAX_BUFFERED_BYTES,
    // The frame limit leaves room for the command envelope around the data.
    maxFrameBytes: config.maxMessageBytes + 1024,
    pollTimeoutMs: config.pollTimeoutMs,
    pollLingerMs: POLL_LINGER_MS,
    maxCommandsPerSecond: config.maxCommandsPerSecond === 0 ? null : config.maxCommandsPerSecond,
    counters: transportCounters,
    outbound,
    report,
    ...(auth.required && { identifyToken: (token: string) => auth.identify(token) }),
  });
  const brokerUp = () => !hasHealth(broker) || broker.healthy();
  const metrics = new Metrics({
    hub,
    transports,
    transportCounters,
    memoryBroker: broker instanceof MemoryBroker ? broker : null,
    outbound,
    heartbeat,
    brokerUp,
    clusterNodes: async () => (await cluster.nodes()).length,
  });
  try {
    await hooks.start(hub.nodeId, metrics.registry);
  } catch (error) {
    await node.stop();
    await hub.close();
    throw error;
  }
  const ready = () => hub.running && brokerUp();
  const stats = new NodeStats({
    info,
    hub,
    transports,
    heartbeat,
    broker: { kind: worker?.brokerKind ?? (brokerInstance ? 'custom' : config.broker), healthy: brokerUp },
    httpErrors: async () => countsByCode(await metrics.httpErrors.get()),
  });
  stats.start();
  const feed = operatorTokens ? new StatsFeed(hub, stats, node, report) : null;
  feed?.start();

  const limits = new ConnectionLimits({
    maxConnections: config.maxConnections,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    trustProxy: config.trustProxy,
    refused: (reason) => metrics.connectionsRefused.inc({ reason }),
  });
  const clientAddress = (req: IncomingMessage) => limits.clientAddress(req);
  const staticFiles = new StaticFiles({ demo: config.demo });
  const publicRoutes: RouteEntry[] = [
    ...publishRoutes({ config, keys, hub, auth: hooks.connectAuth, metrics, clientAddress }),
    ...disconnectRoutes({ hub, node, keys, revocations }),
    ...liveSessionRoutes({ hub, node, auth, counters: transportCounters }),
    ...healthRoutes({ hub, ready }),
    ...staticRoutes(staticFiles),
  ];
  const internal = config.internalPort !== null;
  // Without an internal port they share the public one, and /metrics then takes the admin key.
  const privateRoutes: RouteEntry[] = [
    ...metricsRoutes(
      worker ? worker.metrics(metrics.registry) : () => metrics.registry.metrics(),
      !internal && config.adminKey !== null ? keys : null,
      // No key to ask for, on the public port: this machine only.
      !internal && config.adminKey === null,
    ),
    ...adminRoutes({ hub, node, stats, keys, operatorTokens }),
    ...dashboardRoutes(operatorTokens !== null),
  ];
  const replacer = new SessionReplacer(hub, node, report);
  const routerOf = (routes: readonly RouteEntry[], routePrefix: string) =>
    new Router({
      config,
      hub,
      auth: hooks.connectAuth,
      transports,
      routes,
      metrics,
      prefix: routePrefix,
      replacer,
      report,
      edgeLog,
      clientAddress,
    });
  const router = routerOf(internal ? publicRoutes : [...publicRoutes, ...privateRoutes], prefix);
  metrics.countSockets(() => limits.connections);
  const detach = attachListeners(server, router, limits, { edgeLog, metrics, arrivals });
  let internalListener: InternalListener | null = null;
  if (config.internalPort !== null) {
    const internalRouter = routerOf([...publicRoutes, ...privateRoutes], '');
    internalListener = await listenInternal(internalRouter, config.internalHost, config.internalPort);
  }

  let closing: Promise<void> | null = null;
  const drain = () => hub.drain({ code: 'shutting_down', reason: 'shutdown' }, RECONNECT_SPREAD_MS);
  return {
    apiKey,
    config,
    nodeId: hub.nodeId,
    internalUrl: internalListener?.url ?? null,
    async publish(name, value) {
      const { channel, data } = publicationOfValue(name, value, config.maxMessageBytes);
      if (isSystemChannel(channel)) {
        throw new PushwireError(
          'forbidden',
          `"${channel}" is the server's own: only the server publishes there`,
        );
      }
      const { offset, epoch } = await hub.publish(channel, data);
      return { channel, offset, epoch };
    },
    handleRequest: (req, res) => router.handle(req, res),
    connectionCount: () => countConnections(transports),
    drain,
    close() {
      closing ??= (async () => {
        await drain();
        detach();
        feed?.stop();
        stats.stop();
        revocations.stop();
        await node.stop();
        heartbeat?.stop();
        for (const transport of transports) transport.close();
        await internalListener?.close();
        await hub.close();
        // The drain told of every disconnect: those events go out before the node does.
        await hooks.stop(config.shutdownTimeoutMs);
      })();
      return closing;
    },
  };
}

/** The token keys and checks of `config`, the public key file read. */
function tokenOptionsOf(config: Config): TokenOptions {
  let pem: string | null = null;
  if (config.tokenPublicKey !== null) {
    try {
      pem = readFileSync(config.tokenPublicKey, 'utf8');
    } catch (error) {
      throw new Error(`--token-public-key: can't read ${config.tokenPublicKey}: ${(error as Error).message}`);
    }
  }
  return {
    tokenSecret: config.tokenSecret,
    tokenJwksUrl: config.tokenJwksUrl,
    tokenPublicKeyPem: pem,
    tokenAudience: config.tokenAudience,
    tokenIssuer: config.tokenIssuer,
    tokenMaxAgeMs: config.tokenMaxAgeMs,
    tokenClockSkewMs: config.tokenClockSkewMs,
  };
}

/** The version of this package, as nodes announce it to the cluster. */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function countConnections(transports: readonly Transport[]): number {
  return transports.reduce((sum, transport) => sum + transport.connectionCount(), 0);
}

/** A labelled counter's values by their `code` label. */
function countsByCode(metric: { values: ReadonlyArray<{ value: number; labels: Record<string, unknown> }> }) {
  const counts: Record<string, number> = {};
  for (const { value, labels } of metric.values) counts[String(labels.code)] = value;
  return counts;
}

/** The client bundles (and the demo) as routes. */
function staticRoutes(files: StaticFiles): RouteEntry[] {
  return files.routes('').map(([path, file]) => [
    path,
    {
      method: 'GET',
      handler: (x) => {
        for (const [name, value] of Object.entries(x.headers)) x.res.setHeader(name, value);
        return file.handler(x.req, x.res, x.target.query);
      },
    },
  ]);
}

/** What differs from DEFAULTS when Pushwire is attached to an application's own server. */
const EMBEDDED_DEFAULTS = { demo: false, maxConnections: null, maxConnectionsPerIp: null } as const;

/** The namespace the demo game at `/` publishes on. */
const DEMO_NAMESPACE = 'game';

/**
 * With the demo on, its players publish on `game:` channels: unless the config says otherwise
 * about that namespace, it is added with client publish on (the rest from the top level).
 */
function withDemoNamespace(config: Config): Config {
  if (!config.demo || Object.hasOwn(config.namespaces, DEMO_NAMESPACE)) return config;
  const game = Object.freeze({ ...topLevelOf(config), clientPublish: true });
  return Object.freeze({
    ...config,
    namespaces: Object.freeze({ ...config.namespaces, [DEMO_NAMESPACE]: game }),
  });
}

function makeBroker(config: Config, logger: Logger): Broker {
  const log: BrokerLogger = (level, msg, err) => logger[level]({ err }, msg);
  if (config.broker === 'memory') {
    return new MemoryBroker({
      logger: log,
      maxHistoryBytes: config.maxHistoryMemory,
      maxChannels: config.maxHistoryChannels,
    });
  }
  return new RedisBroker({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    // Empty: redisUrl alone. Every node must list the same shards to agree on channel owners.
    shards: config.redisShards,
    cluster: config.redisCluster,
    nodeLeaseMs: config.nodeLeaseMs,
    logger: log,
  });
}

/** HTTP/1.1 requires a Host (RFC 9112 §3.2): a request without one is refused, as Node would. */
function missingHost(req: IncomingMessage): PushwireError | null {
  if (req.httpVersion !== '1.1' || req.headers.host !== undefined) return null;
  return new PushwireError('invalid_request', 'an HTTP/1.1 request needs a Host header');
}

/** A connection over a cap is answered (503 or close 4005) and closed; it may take this long. */
const REFUSED_GRACE_MS = 2000;

/**
 * Puts Pushwire in front of the server's own request listeners (they still get every request
 * that isn't Pushwire's) and handles upgrades to /ws. Counts connections against the caps,
 * notes their arrival for the hub's fan-out, and answers what Node's parser refuses in the
 * error shape (unless the host does). Returns the undo, which restores the server's listeners
 * exactly.
 */
function attachListeners(
  server: Server,
  router: Router,
  limits: ConnectionLimits,
  { edgeLog, metrics, arrivals }: { edgeLog: EdgeLog; metrics: Metrics; arrivals: Arrivals },
): () => void {
  const hostListeners = server.listeners('request') as ((
    req: IncomingMessage,
    res: ServerResponse,
  ) => void)[];
  server.removeAllListeners('request');
  // A connection over a cap is still read, so that its request gets a proper answer (a
  // WebSocket its close code), but it may not stay: it is cut after a short grace.
  const overCap = new WeakMap<Duplex, PushwireError>();
  const onConnection = (socket: Socket) => {
    arrivals.arrived();
    const refusal = limits.accept(socket);
    if (refusal === null) return;
    overCap.set(socket, refusal);
    setTimeout(() => socket.destroy(), REFUSED_GRACE_MS).unref();
  };
  const refusalOf = (req: IncomingMessage, release: (done: () => void) => void) =>
    overCap.get(req.socket) ?? missingHost(req) ?? limits.admit(req, release);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const refusal = refusalOf(req, (done) => res.once('close', done));
    if (refusal) {
      metrics.httpErrors.inc({ code: refusal.code });
      res.shouldKeepAlive = false;
      router.refuseRequest(req, res, refusal);
      return;
    }
    if (router.handle(req, res)) return;
    if (hostListeners.length === 0) return router.notFound(req, res);
    for (const listener of hostListeners) listener.call(server, req, res);
  };
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refusal = refusalOf(req, (done) => socket.once('close', done));
    if (refusal) {
      metrics.httpErrors.inc({ code: refusal.code });
      // A malformed upgrade is answered as the bad HTTP it is; a full server as its transport
      // refuses (a WebSocket is upgraded and closed with 4005, so that browsers see why).
      if (refusal.code === 'invalid_request') answerSocket(socket, refusal);
      else router.refuseUpgrade(req, socket, head, refusal);
      return;
    }
    if (router.handleUpgrade(req, socket, head)) return;
    // Leave other paths to the host's own upgrade listeners, if it has any.
    if (server.listenerCount('upgrade') === 1) router.upgradeNotFound(req, socket);
  };
  // Requests Node's parser refuses (bad request lines, header floods, timeouts) get the
  // documented error shape instead of Node's bare status line, unless the host answers them.
  const onClientError = (error: Error, socket: Duplex) => {
    edgeLog.gone('request', error);
    const code = (error as { code?: unknown }).code;
    // The client left (or was already answered and is being closed): nobody to answer.
    if (code === 'ECONNRESET' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const failure = clientErrorOf(error);
    metrics.httpErrors.inc({ code: failure.code });
    answerSocket(socket, failure);
  };
  const answersClientErrors = server.listenerCount('clientError') === 0;
  server.on('connection', onConnection);
  server.on('request', onRequest);
  server.on('upgrade', onUpgrade);
  if (answersClientErrors) server.on('clientError', onClientError);
  return () => {
    server.removeListener('connection', onConnection);
    server.removeListener('request', onRequest);
    server.removeListener('upgrade', onUpgrade);
    server.removeListener('clientError', onClientError);
    for (const listener of hostListeners) server.on('request', listener);
  };
}
