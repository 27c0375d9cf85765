export { DEFAULTS } from './defaults.ts';
export { configHelp } from './help.ts';
export { ConfigError, loadConfig } from './load.ts';
export { resolveChannelOptions } from './namespaces.ts';
export { closest } from './suggest.ts';
export type { Config, NamespaceOptions } from './types.ts';
