export { redactRedisUrl } from '../brokers/index.ts';
export {
  type Config,
  ConfigError,
  closest,
  configHelp,
  DEFAULTS,
  loadConfig,
  type NamespaceOptions,
} from './config/index.ts';
export {
  createPushwire,
  type PublishResult,
  type Pushwire,
  type PushwireOptions,
} from './create-pushwire.ts';
export { createLogger } from './logger.ts';
export { displayHost, type RunningServer, startServer } from './standalone.ts';
export { Supervisor, type WorkerReady } from './workers/primary.ts';
export { PROCESS_NAME_PREFIX } from './workers/titles.ts';
export { isWorkerProcess, runWorker } from './workers/worker.ts';
