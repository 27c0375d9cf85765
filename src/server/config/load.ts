import { DEFAULTS } from './defaults.ts';
import { parseNamespaces, topLevelOf } from './namespaces.ts';
import {
  type ConfigFileRef,
  type RawSetting,
  readConfigFile,
  readEnv,
  readFlags,
  type Source,
} from './sources.ts';
import type { Config } from './types.ts';
import { parseValue } from './values.ts';

/** Every problem of a configuration, one line each: `<where>: <what is wrong> (<what works>)`. */
export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

export interface LoadConfigInput {
  /** The arguments after `serve`. Default: none. */
  readonly argv?: readonly string[];
  /** Default: `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where a relative config file path starts. Default: `process.cwd()`. */
  readonly cwd?: string;
}

interface Chosen {
  readonly value: unknown;
  readonly setting: RawSetting;
}

/**
 * The configuration of `pushwire serve`: flags > PUSHWIRE_* env vars > config file (`--config`
 * or PUSHWIRE_CONFIG) > defaults. Checks everything, then throws one `ConfigError` listing every
 * problem, or returns a deep-frozen `Config`.
 */
export function loadConfig(input: LoadConfigInput = {}): Config {
  const flags = readFlags(input.argv ?? []);
  const env = readEnv(input.env ?? process.env);
  const configFile: ConfigFileRef | undefined = flags.configFile ?? env.configFile;
  const file: Source =
    configFile === undefined
      ? { settings: [], problems: [] }
      : readConfigFile(configFile, input.cwd ?? process.cwd());

  const problems: string[] = [];
  const chosen = new Map<keyof Config, Chosen>();
  // Highest precedence first; within one source the last value given wins. Values that lose
  // are still checked: a broken env var is worth fixing even while a flag overrides it.
  for (const source of [flags, env, file]) {
    problems.push(...source.problems);
    const fromThisSource = new Map<keyof Config, Chosen>();
    for (const setting of source.settings) {
      const parsed = parseValue(setting.spec, setting.raw);
      if (!parsed.ok) problems.push(`${setting.label}: ${parsed.problem}`);
      else if (!chosen.has(setting.spec.field))
        fromThisSource.set(setting.spec.field, { value: parsed.value, setting });
    }
    for (const [field, value] of fromThisSource) chosen.set(field, value);
  }

  const values: Record<string, unknown> = { ...DEFAULTS };
  for (const [field, { value }] of chosen) if (field !== 'namespaces') values[field] = value;
  // Each value came from the parser of its field's kind; the rest are the typed defaults.
  const topLevel = values as unknown as Config;
  const namespaces = chosen.get('namespaces');
  if (namespaces !== undefined) {
    const { label, source } = namespaces.setting;
    // `pushwire.yaml: namespaces.game.historyTtl`, `PUSHWIRE_NAMESPACES: game.historyTtl`
    const at =
      source === 'file' ? (path: string) => `${label}.${path}` : (path: string) => `${label}: ${path}`;
    const parsed = parseNamespaces(namespaces.value, label, at, topLevelOf(topLevel));
    problems.push(...parsed.problems);
    values.namespaces = parsed.namespaces;
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(topLevel);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
