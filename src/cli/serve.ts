import {
  type Config,
  configHelp,
  createLogger,
  displayHost,
  isWorkerProcess,
  type RunningServer,
  redactRedisUrl,
  runWorker,
  Supervisor,
  startServer,
} from '../server/index.ts';
import { commandConfig } from './command-config.ts';

const EXAMPLES = `Examples:
  pushwire serve                                   # port 8080, memory broker, the demo at /
  pushwire serve --port 3000 --api-key "$KEY" --no-demo
  pushwire serve --broker redis --redis-url redis://127.0.0.1:6379   # on every node
  pushwire serve --workers auto --pid-file /run/pushwire.pid         # every core; pushwire reload
  pushwire serve --config pushwire.yaml --log-format json`;

function brokerLine(config: Config): string {
  if (config.broker === 'memory') {
    const where = config.workers > 1 ? 'in the primary, shared by the workers; ' : '';
    return `memory (${where}history is lost on restart; --broker redis to scale out)`;
  }
  const where =
    config.redisShards.length > 0
      ? `shards ${config.redisShards.map(redactRedisUrl).join(', ')}`
      : redactRedisUrl(config.redisUrl);
  return `redis ${where}${config.redisCluster ? ' (cluster)' : ''}, key prefix "${config.redisPrefix}"`;
}

/** Why the server could not start, and what to do about it. */
function startFailure(config: Config, error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  if (code === 'EADDRINUSE') {
    return `port ${config.port} on ${config.host} is in use (EADDRINUSE): stop what listens there, or pick another with --port`;
  }
  if (code === 'EACCES') {
    return `may not listen on port ${config.port} (EACCES): ports below 1024 need privileges; pick another with --port`;
  }
  if (code === 'EADDRNOTAVAIL') {
    return `${config.host} is not an address of this machine (EADDRNOTAVAIL): check --host`;
  }
  if (code === 'broker_unavailable') return `${text}: start Redis, or check --redis-url`;
  return text;
}

interface Listening {
  readonly url: string;
  readonly internalUrl: string | null;
  readonly apiKey: string;
}

function printBanner(config: Config, { url, internalUrl, apiKey }: Listening): void {
  const privateUrl = internalUrl ?? url;
  const ws = url.replace(/^http/, 'ws');
  const generated = config.apiKey === null;
  console.log(
    [
      `Pushwire listening on ${url}`,
      `  WebSocket      ${ws}/ws`,
      `  SSE            ${url}/sse?channel=NAME`,
      `  Long poll      ${url}/poll?channel=NAME`,
      `  HTTP stream    ${url}/stream?channel=NAME`,
      `  Publish        POST ${url}/api/publish  (Authorization: Bearer <api key>)`,
      `  Health         ${url}/healthz  ${url}/readyz`,
      `  Metrics        ${privateUrl}/metrics${internalUrl || config.adminKey === null ? '' : '  (Authorization: Bearer <admin key>)'}`,
      config.adminKey === null
        ? '  Admin          off (--admin-key turns on the admin API and the dashboard)'
        : `  Admin          ${privateUrl}/admin  ${privateUrl}/api/info  (admin key)`,
      ...(internalUrl
        ? [`  Internal       ${internalUrl}  (metrics, admin API, dashboard: keep it private)`]
        : []),
      ...(config.demo ? [`  Demo           ${url}/  (--no-demo turns it off)`] : []),
      `  Broker         ${brokerLine(config)}`,
      ...(config.workers > 1
        ? [
            `  Workers        ${config.workers} (primary pid ${process.pid}: SIGHUP or pushwire reload replaces them one at a time)`,
          ]
        : []),
      // A key the operator chose is never shown: this banner ends up in logs.
      generated
        ? `API key: ${apiKey}  (generated: set --api-key or PUSHWIRE_API_KEY to keep one)`
        : 'API key: as configured (not shown)',
    ].join('\n'),
  );
}

/** `pushwire serve`: runs until SIGTERM/SIGINT, then drains and exits 0. Returns -1 while running. */
export async function runServe(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`Usage: pushwire serve [options]\n\n${configHelp()}\n\n${EXAMPLES}`);
    return 0;
  }
  const config = commandConfig('serve', argv);
  if (config === 2) return 2;
  const logger = createLogger(config);
  if (isWorkerProcess()) return serveAsWorker(config, logger);
  if (config.workers > 1) return serveAsPrimary(config, logger);
  let running: RunningServer;
  try {
    running = await startServer(config, logger);
  } catch (error) {
    console.error(`pushwire serve: ${startFailure(config, error)}`);
    return 1;
  }
  const { url, pushwire } = running;
  printBanner(config, { url, internalUrl: pushwire.internalUrl, apiKey: pushwire.apiKey });
  warnAboutCors(config, logger);
  if (displayHost(config.host) === 'localhost' && config.host !== 'localhost') {
    logger.info({ host: config.host }, 'listening on every interface');
  }

  drainOnSignals(logger, 'draining: clients are told to reconnect', () => running.stop());
  return -1;
}

/**
 * SIGTERM or SIGINT drains with `stop` and exits 0 (1 if it failed); a second signal exits at
 * once, after `kill` (the workers, when there are some).
 */
function drainOnSignals(logger: Logger, draining: string, stop: () => Promise<void>, kill = () => {}): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting at once');
      kill();
      process.exit(1);
    }
    logger.info({ signal }, draining);
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

type Logger = ReturnType<typeof createLogger>;

function warnAboutCors(config: Config, logger: Logger): void {
  if (config.corsOrigins.includes('*')) {
    logger.warn(
      { corsOrigins: ['*'] },
      'cors-origins is *: any web page a visitor opens may read and publish through this server with their access; list the origins that may instead',
    );
  }
}

/**
 * A worker of `serve --workers`: the primary prints the banner and coordinates signals. A
 * Ctrl-C reaches the whole process group, so a worker leaves SIGINT (and SIGHUP) to the
 * primary, which then drains the workers with SIGTERM.
 */
async function serveAsWorker(config: Config, logger: Logger): Promise<number> {
  let running: RunningServer;
  try {
    running = await runWorker(config, logger);
  } catch (error) {
    console.error(`pushwire serve: worker ${process.pid}: ${startFailure(config, error)}`);
    return 1;
  }
  const stop = (code: number) => {
    running.stop().then(
      () => process.exit(code),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => {});
  process.on('SIGHUP', () => {});
  process.once('SIGTERM', () => stop(0));
  // The primary is gone (killed): without it there is no broker and nobody to restart us.
  process.once('disconnect', () => {
    logger.error('the primary is gone: stopping');
    stop(1);
  });
  return -1;
}

/** The primary of `serve --workers`: forks, watches and replaces the workers; serves nothing itself. */
async function serveAsPrimary(config: Config, logger: Logger): Promise<number> {
  const supervisor = new Supervisor(config, logger);
  try {
    const ready = await supervisor.start();
    printBanner(config, ready);
    warnAboutCors(config, logger);
  } catch (error) {
    console.error(`pushwire serve: ${startFailure(config, error)}`);
    return 1;
  }
  process.on('SIGHUP', () => {
    void supervisor.reload();
  });
  drainOnSignals(
    logger,
    'draining the workers: clients are told to reconnect',
    () => supervisor.stop(),
    () => supervisor.kill(),
  );
  return -1;
}
