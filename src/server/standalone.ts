import { createServer, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/index.ts';
import { createPushwire, type Pushwire, type PushwireOptions } from './create-pushwire.ts';
import { LISTENER_COPIES, listenOnCopies } from './listener-copies.ts';
import { TCP_KEEPALIVE_MS } from './routes.ts';

const IDLE_SWEEP_MS = 50;
const ACCEPT_FAILURE_LOG_MS = 10_000;
/**
 * Connections the kernel may queue before they are accepted. Node's default (511) overflows
 * in a reconnect storm while the event loop is busy with the drop: each SYN the kernel then
 * drops comes back only after the client's 1, 3, 7, 15, 31 s retransmit backoff. The kernel
 * caps it at net.core.somaxconn.
 */
const LISTEN_BACKLOG = 4096;

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly pushwire: Pushwire;
  readonly server: Server;
  /**
   * Graceful stop: stop accepting, tell every client to reconnect, finish publishes already
   * accepted, then close. Connections still open after the shutdown timeout are cut.
   */
  stop(): Promise<void>;
}

/** Runs Pushwire as the whole HTTP server (what `pushwire serve` does). */
export async function startServer(
  config: Config,
  logger: Logger,
  extra: Pick<PushwireOptions, 'brokerInstance' | 'worker'> = {},
): Promise<RunningServer> {
  const server = createServer({
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // TCP keepalive on every accepted connection, not only those the router opens a session on.
    keepAlive: true,
    keepAliveInitialDelay: TCP_KEEPALIVE_MS,
    // Headers and body within the request timeout: a client trickling either is cut with 408.
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: config.requestTimeoutMs,
    // Node checks those timeouts this often (30 s by default, which would double them).
    connectionsCheckingInterval: Math.min(1000, config.requestTimeoutMs / 2),
    // Pushwire answers a missing Host itself, in the error shape (Node's 400 has no body).
    requireHostHeader: false,
  });
  const pushwire = await createPushwire(server, { ...config, ...extra, logger });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  logAcceptFailures(server, logger);
  // A worker's connections come from the primary, which accepts them (node:cluster).
  const copies = extra.worker === undefined ? await listenOnCopiesOrNot(server, logger) : [];
  const { port } = server.address() as AddressInfo;
  let stopping: Promise<void> | null = null;
  return {
    url: `http://${displayHost(config.host)}:${port}`,
    port,
    pushwire,
    server,
    stop() {
      stopping ??= stop(server, copies, pushwire, config.shutdownTimeoutMs);
      return stopping;
    },
  };
}

/**
 * Once listening, a server's 'error' is an accept that failed (out of memory or buffers; libuv
 * handles running out of descriptors itself): that connection is lost, the server goes on.
 * Logged at most once per ACCEPT_FAILURE_LOG_MS with the count since, as a storm repeats it.
 */
function logAcceptFailures(server: Server, logger: Logger): void {
  let loggedAt = 0;
  let unlogged = 0;
  server.on('error', (error) => {
    const now = Date.now();
    if (now - loggedAt < ACCEPT_FAILURE_LOG_MS) {
      unlogged += 1;
      return;
    }
    logger.warn({ err: error, failuresSinceLast: unlogged }, 'a connection could not be accepted');
    loggedAt = now;
    unlogged = 0;
  });
}

/** The listener's copies (see listener-copies.ts); on a failure the server goes on with one. */
async function listenOnCopiesOrNot(server: Server, logger: Logger): Promise<NetServer[]> {
  if (process.platform !== 'linux') return [];
  try {
    return await listenOnCopies(server, {
      copies: LISTENER_COPIES,
      backlog: LISTEN_BACKLOG,
      keepAliveInitialDelayMs: TCP_KEEPALIVE_MS,
    });
  } catch (error) {
    logger.warn({ err: error }, 'accepting through one descriptor: its copies could not be made');
    return [];
  }
}

async function stop(
  server: Server,
  copies: NetServer[],
  pushwire: Pushwire,
  timeoutMs: number,
): Promise<void> {
  // Each copy counts the connections it accepted: closed means all of them ended too.
  const closed = Promise.all([
    new Promise<void>((resolve) => server.close(() => resolve())),
    ...copies.map((copy) => new Promise<void>((resolve) => copy.close(() => resolve()))),
  ]);
  await pushwire.close();
  // Keep-alive connections that finish a request while we drain become idle only then: close
  // them as they do, instead of waiting out their keep-alive timeout.
  server.closeIdleConnections();
  const sweeper = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, timeoutMs);
  });
  await Promise.race([closed, deadline]);
  clearTimeout(timer);
  clearInterval(sweeper);
}

/** What to print for a listening address: a wildcard is reachable as localhost. */
export function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}
