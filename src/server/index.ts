export {
  type Config,
  ConfigError,
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
export { displayHost, type RunningServer, startServer } from './standalone.ts';
