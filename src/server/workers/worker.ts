import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { type Broker, type Logger as BrokerLogger, IpcBroker, type IpcLink } from '../../brokers/index.ts';
import type { Config } from '../config/index.ts';
import type { WorkerRole } from '../create-pushwire.ts';
import { type RunningServer, startServer } from '../standalone.ts';
import { isToWorker, type ToPrimary } from './messages.ts';
import { WORKER_TITLE } from './titles.ts';

const SCRAPE_TIMEOUT_MS = 10_000;

/** The worker's side of the IPC channel that node:cluster opened to the primary. */
const link: IpcLink = {
  send(message) {
    if (!process.send) throw new Error('no IPC channel to the primary');
    process.send(message);
  },
  onMessage(listener) {
    process.on('message', listener);
    return () => process.off('message', listener);
  },
};

function tell(message: ToPrimary): void {
  process.send?.(message);
}

/**
 * One worker of `serve --workers`: a whole server on the shared port. With the memory broker
 * its broker is the primary's (over IPC); with Redis it is a node like any other.
 */
export async function runWorker(config: Config, logger: Logger): Promise<RunningServer> {
  process.title = WORKER_TITLE;
  const log: BrokerLogger = (level, msg, err) => logger[level]({ err }, msg);
  const brokerInstance: Broker | undefined =
    config.broker === 'memory' ? new IpcBroker({ link, logger: log }) : undefined;
  const running = await startServer(config, logger, {
    ...(brokerInstance && { brokerInstance }),
    worker: workerRole(config),
  });
  tell({
    pw: 'ready',
    url: running.url,
    internalUrl: running.pushwire.internalUrl,
    apiKey: running.pushwire.apiKey,
    node: running.pushwire.nodeId,
  });
  return running;
}

function workerRole(config: Config): WorkerRole {
  // prom-client answers the primary's requests for this worker's metrics once an
  // AggregatorRegistry exists in the process, from the registries set here.
  new AggregatorRegistry();
  let nextId = 0;
  const waiting = new Map<number, (text: string | Error) => void>();
  link.onMessage((message) => {
    if (!isToWorker(message)) return;
    waiting.get(message.id)?.('text' in message ? message.text : new Error(message.error));
    waiting.delete(message.id);
  });
  return {
    brokerKind: config.broker,
    metrics(local: Registry) {
      AggregatorRegistry.setRegistries([local]);
      return async () => {
        const id = ++nextId;
        const answer = await new Promise<string | Error>((resolve) => {
          const timer = setTimeout(() => resolve(new Error('no answer from the primary')), SCRAPE_TIMEOUT_MS);
          waiting.set(id, (text) => {
            clearTimeout(timer);
            resolve(text);
          });
          tell({ pw: 'metrics', id });
        });
        waiting.delete(id);
        // A scrape that can't gather every worker still says what this one knows.
        if (answer instanceof Error)
          return `# every worker's metrics: ${answer.message}\n${await local.metrics()}`;
        return answer;
      };
    },
  };
}

/** True in a process that a `serve --workers` primary forked. */
export function isWorkerProcess(): boolean {
  return cluster.isWorker;
}
