import { pino } from 'pino';
import { ConfigError, configHelp, displayHost, loadConfig, startServer } from '../server/index.ts';

function brokerLine(config: ReturnType<typeof loadConfig>): string {
  if (config.broker === 'memory') return 'memory (history is lost on restart; --broker redis to scale out)';
  const where = config.redisShards.length > 0 ? `shards ${config.redisShards.join(', ')}` : config.redisUrl;
  return `redis ${where}${config.redisCluster ? ' (cluster)' : ''}, key prefix "${config.redisPrefix}"`;
}

/** `pushwire serve`: runs until SIGTERM/SIGINT, then drains and exits 0. Returns -1 while running. */
export async function runServe(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(`Usage: pushwire serve [options]\n\n${configHelp()}`);
    return 0;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig({ argv, env: process.env, cwd: process.cwd() });
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`pushwire serve: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  const running = await startServer(config, logger);
  const { url, pushwire } = running;
  const privateUrl = pushwire.internalUrl ?? url;
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
      `  Metrics        ${privateUrl}/metrics${pushwire.internalUrl || config.adminKey === null ? '' : '  (Authorization: Bearer <admin key>)'}`,
      config.adminKey === null
        ? '  Admin          off (--admin-key turns on the admin API and the dashboard)'
        : `  Admin          ${privateUrl}/admin  ${privateUrl}/api/info  (admin key)`,
      ...(pushwire.internalUrl
        ? [`  Internal       ${pushwire.internalUrl}  (metrics, admin API, dashboard: keep it private)`]
        : []),
      ...(config.demo ? [`  Demo           ${url}/  (--no-demo turns it off)`] : []),
      `  Broker         ${brokerLine(config)}`,
      `API key: ${pushwire.apiKey}${generated ? '  (generated: set --api-key or PUSHWIRE_API_KEY to keep one)' : ''}`,
    ].join('\n'),
  );
  if (displayHost(config.host) === 'localhost' && config.host !== 'localhost') {
    logger.info({ host: config.host }, 'listening on every interface');
  }

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    logger.info({ signal }, 'draining: clients are told to reconnect');
    running.stop().then(
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
  return -1;
}
