import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { redactRedisUrl } from '../../brokers/index.ts';
import { DEFAULTS } from './defaults.ts';
import { hookProblems } from './hooks.ts';
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
import { parseValue, redisUrlHosts } from './values.ts';

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
  const chosen = new Map<keyof Config, unknown>();
  // Where each chosen value came from, to name it in a problem that involves several options.
  const labels = new Map<keyof Config, string>();
  // Namespaces are checked once the top-level values they fall back to are known.
  const namespaceSettings: { value: unknown; setting: RawSetting }[] = [];
  // Highest precedence first; within one source the last value given wins. Values that lose
  // are still checked: a broken env var is worth fixing even while a flag overrides it.
  for (const source of [flags, env, file]) {
    problems.push(...source.problems);
    const fromThisSource = new Map<keyof Config, { value: unknown; label: string }>();
    for (const setting of source.settings) {
      const parsed = parseValue(setting.spec, setting.raw);
      if (!parsed.ok) problems.push(`${setting.label}: ${parsed.problem}`);
      else if (setting.spec.field === 'namespaces') namespaceSettings.push({ value: parsed.value, setting });
      else if (!chosen.has(setting.spec.field))
        fromThisSource.set(setting.spec.field, { value: parsed.value, label: setting.label });
    }
    for (const [field, { value, label }] of fromThisSource) {
      chosen.set(field, value);
      labels.set(field, label);
    }
  }

  // Each value came from the parser of its field's kind; the rest are the typed defaults.
  const config = { ...DEFAULTS, ...Object.fromEntries(chosen) } as Config;
  const top = topLevelOf(config);
  const namespaces = namespaceSettings.map(({ value, setting }) => {
    // `pushwire.yaml: namespaces.game.historyTtl`, `PUSHWIRE_NAMESPACES: game.historyTtl`
    const { label, source } = setting;
    const at =
      source === 'file' ? (path: string) => `${label}.${path}` : (path: string) => `${label}: ${path}`;
    const parsed = parseNamespaces(value, label, at, top);
    problems.push(...parsed.problems);
    return parsed.namespaces;
  });

  problems.push(...redisProblems(config, labels));
  problems.push(...secretProblems(config, labels));
  problems.push(...adminProblems(config, labels));
  problems.push(...tokenProblems(config, labels));
  const resolved = { ...config, namespaces: namespaces[0] ?? DEFAULTS.namespaces };
  problems.push(...hookProblems(resolved, labels));

  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(resolved);
}

/**
 * Redis URLs that only make sense with (or without) `redisCluster`: several hosts are a
 * cluster's seeds, and a Sentinel watches one master, not a cluster.
 */
function redisProblems(config: Config, labels: ReadonlyMap<keyof Config, string>): string[] {
  if (config.broker !== 'redis') return [];
  const field: keyof Config = config.redisShards.length > 0 ? 'redisShards' : 'redisUrl';
  const urls = config.redisShards.length > 0 ? config.redisShards : [config.redisUrl];
  const label = labels.get(field) ?? field;
  const problems: string[] = [];
  for (const url of urls) {
    const shown = JSON.stringify(redactRedisUrl(url));
    if (config.redisCluster && url.startsWith('redis-sentinel://')) {
      problems.push(`${label}: ${shown} is a Sentinel URL (a cluster takes redis:// seed hosts)`);
    } else if (!config.redisCluster && !url.startsWith('redis-sentinel://') && redisUrlHosts(url) > 1) {
      problems.push(`${label}: ${shown} lists several hosts (only a cluster does: add --redis-cluster)`);
    }
  }
  return problems;
}

/** An API key shorter than this can be guessed online; a generated one is 24 characters. */
export const MIN_API_KEY_LENGTH = 16;
/** HS256 keys shorter than the hash's 32-byte output make tokens easier to forge (RFC 7518 §3.2). */
export const MIN_TOKEN_SECRET_BYTES = 32;

/** Keys that are too short to keep anyone out, refused at start; the value is never shown. */
export function secretProblems(
  config: Pick<Config, 'apiKey' | 'tokenSecret'>,
  labels: ReadonlyMap<keyof Config, string> = new Map(),
): string[] {
  const problems: string[] = [];
  if (config.apiKey !== null && config.apiKey.length < MIN_API_KEY_LENGTH) {
    problems.push(
      `${labels.get('apiKey') ?? 'apiKey'}: the key is too short (use at least ${MIN_API_KEY_LENGTH} characters, e.g. openssl rand -hex 16)`,
    );
  }
  if (config.tokenSecret !== null && Buffer.byteLength(config.tokenSecret) < MIN_TOKEN_SECRET_BYTES) {
    problems.push(
      `${labels.get('tokenSecret') ?? 'tokenSecret'}: the secret is too short (use at least ${MIN_TOKEN_SECRET_BYTES} bytes, e.g. openssl rand -hex 32)`,
    );
  }
  return problems;
}

/** Token checks that mean nothing without a key to verify tokens with. */
function tokenProblems(config: Config, labels: ReadonlyMap<keyof Config, string>): string[] {
  const problems: string[] = [];
  const file = config.tokenPublicKey;
  if (file !== null) {
    const label = labels.get('tokenPublicKey') ?? 'tokenPublicKey';
    try {
      const type = createPublicKey(readFileSync(file, 'utf8')).asymmetricKeyType;
      if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') {
        problems.push(`${label}: ${file} holds a ${String(type)} key (use RSA, P-256 or Ed25519)`);
      }
    } catch (error) {
      const reason =
        (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not a PEM public key';
      problems.push(`${label}: can't use ${file}: ${reason}`);
    }
  }
  const keyed = config.tokenSecret !== null || config.tokenJwksUrl !== null || config.tokenPublicKey !== null;
  if (!keyed) {
    for (const field of ['tokenAudience', 'tokenIssuer', 'tokenMaxAgeMs'] as const) {
      if (config[field] !== null) {
        problems.push(
          `${labels.get(field) ?? field}: set a token key too (--token-secret, --token-jwks-url or --token-public-key)`,
        );
      }
    }
  }
  return problems;
}

/** The admin key grants every admin route: it must be hard to guess and not the publish key. */
export const MIN_ADMIN_KEY_LENGTH = 16;

function adminProblems(config: Config, labels: ReadonlyMap<keyof Config, string>): string[] {
  const key = config.adminKey;
  if (key === null) return [];
  const label = labels.get('adminKey') ?? 'adminKey';
  if (key.length < MIN_ADMIN_KEY_LENGTH) {
    return [`${label}: the key is too short (use at least ${MIN_ADMIN_KEY_LENGTH} characters)`];
  }
  if (key === config.apiKey) {
    return [
      `${label}: the admin key is the API key (use another: the API key only publishes and disconnects)`,
    ];
  }
  return [];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
