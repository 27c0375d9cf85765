import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AccessHook, LifecycleEvent, LifecycleOptions, Occupancy } from '../../core/index.ts';
import type { ConnectionAuth } from '../auth.ts';
import { type Config, ConfigError, hookProblems, resolveChannelOptions } from '../config/index.ts';
import { AppAccessHook } from './access-hook.ts';
import { AppHook } from './app-hook.ts';
import { ConnectAuth } from './connect-auth.ts';
import { type EventLog, MemoryEventLog } from './event-log.ts';
import { EventSender } from './event-sender.ts';
import { HookMetrics } from './hook-metrics.ts';
import { RedisEventLog } from './redis-event-log.ts';

/** The envelope a subscribe or connect answer may use beyond the rights themselves. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface HooksDeps {
  readonly config: Config;
  /** Who is subscribed where over the cluster, for channel_occupied / channel_vacated. */
  readonly occupancy: Occupancy;
  readonly tokens: ConnectionAuth;
  readonly logger: Logger;
}

/** Everything the hooks give the rest of the server. */
export interface Hooks {
  /** For the hub; undefined without --hook-url. */
  readonly lifecycle: LifecycleOptions | undefined;
  /** For the hub; undefined without subscribe and publish hooks. */
  readonly accessHook: AccessHook | undefined;
  /** Who a connection is: token or connect hook. */
  readonly connectAuth: ConnectAuth;
  /** Starts delivering lifecycle events as node `node`; its metrics go into `registry`. */
  start(node: string, registry: Registry): Promise<void>;
  /**
   * Once the hub is closed: delivers what is left for up to `budgetMs` (on Redis, hands it to
   * the stream for the other nodes), then stops.
   */
  stop(budgetMs: number): Promise<void>;
}

/** Builds the hooks the config asks for. Throws a ConfigError when they don't fit together. */
export function createHooks({ config, occupancy, tokens, logger }: HooksDeps): Hooks {
  const problems = hookProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const log = (level: 'warn' | 'info' | 'debug', msg: string, err?: unknown) =>
    logger[level](err === undefined ? {} : { err }, msg);
  const secret = config.hookSecret ?? '';
  const eventLog = config.hookUrl === null ? null : makeEventLog(config, log);
  const metrics = new HookMetrics(eventLog);
  const appHook = (name: 'connect' | 'subscribe' | 'publish', url: string | null) =>
    url === null
      ? null
      : new AppHook({
          name,
          url,
          secret,
          timeoutMs: config.hookTimeoutMs,
          concurrency: config.hookConcurrency,
          maxAnswerBytes: MAX_ANSWER_BYTES + (name === 'publish' ? config.maxMessageBytes : 0),
          metrics,
          log,
        });
  const subscribeHook = appHook('subscribe', config.subscribeHookUrl);
  const publishHook = appHook('publish', config.publishHookUrl);
  const connectAuth = new ConnectAuth(tokens, appHook('connect', config.connectHookUrl), (msg, err) =>
    log('warn', msg, err),
  );
  const accessHook =
    subscribeHook || publishHook
      ? new AppAccessHook(subscribeHook, publishHook, config.maxMessageBytes, (msg) => log('warn', msg))
      : undefined;
  const lifecycle: LifecycleOptions | undefined =
    eventLog === null
      ? undefined
      : {
          occupancy,
          publishEvents: config.hookPublishEvents,
          listener: {
            wants: (channel) => resolveChannelOptions(config, channel).hooks,
            event: appendTo(eventLog),
          },
        };
  let sender: EventSender | null = null;
  return {
    lifecycle,
    accessHook,
    connectAuth,
    async start(node, registry) {
      metrics.registerIn(registry);
      if (!eventLog || config.hookUrl === null) return;
      if (!occupancy.clusterWide) {
        logger.info(
          'hook events: channel_occupied and channel_vacated need subscriber counts of the whole cluster, which this broker does not keep: they are not sent',
        );
      }
      await eventLog.start(node);
      sender = new EventSender(eventLog, {
        url: config.hookUrl,
        secret,
        timeoutMs: config.hookTimeoutMs,
        metrics,
        log,
      });
      sender.start();
    },
    async stop(budgetMs) {
      if (!eventLog) return;
      const settled = sender ? await sender.stop(budgetMs) : eventLog.settled();
      if (!settled && eventLog instanceof MemoryEventLog) {
        logger.warn(`${eventLog.queued()} lifecycle events were not delivered before shutdown and are lost`);
      }
      await eventLog.close();
    },
  };
}

function appendTo(log: EventLog): (event: LifecycleEvent) => void {
  return (event) => log.append(JSON.stringify(event));
}

function makeEventLog(config: Config, log: (level: 'warn' | 'info', msg: string) => void): EventLog {
  if (config.broker !== 'redis') return new MemoryEventLog(config.hookQueueSize, log);
  // Every node must use the same stream: the first of the shards in sorted order.
  const url = [...config.redisShards].sort()[0] ?? config.redisUrl;
  return new RedisEventLog({
    url,
    cluster: config.redisCluster,
    prefix: config.redisPrefix,
    capacity: config.hookQueueSize,
    log,
  });
}
