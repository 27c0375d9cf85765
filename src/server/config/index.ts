export { DEFAULTS } from './defaults.ts';
export { configHelp } from './help.ts';
export { hookProblems } from './hooks.ts';
export { ConfigError, loadConfig, secretProblems } from './load.ts';
export { resolveChannelOptions, topLevelOf } from './namespaces.ts';
export { closest } from './suggest.ts';
export type { Config, NamespaceOptions } from './types.ts';
