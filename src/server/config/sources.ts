// Reads raw option values from the three places a user can give them: flags, PUSHWIRE_* env
// vars and a config file. Nothing is parsed here beyond finding which option a name means.
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import {
  CONFIG_FILE_OPTION,
  envName,
  FOREIGN_ENV_PREFIXES,
  kebabCase,
  OPTIONS,
  type OptionSpec,
} from './options.ts';
import { closest } from './suggest.ts';
import { kindHint } from './values.ts';

/** One value as given, with where it came from, e.g. `--port` or `pushwire.yaml: port`. */
export interface RawSetting {
  readonly source: 'flag' | 'env' | 'file';
  readonly spec: OptionSpec;
  readonly raw: unknown;
  readonly label: string;
}

export interface Source {
  readonly settings: readonly RawSetting[];
  readonly problems: readonly string[];
}

/** Where the config file is, as given by `--config` or PUSHWIRE_CONFIG. */
export interface ConfigFileRef {
  readonly path: string;
  readonly label: string;
}

const FLAGS = new Map(OPTIONS.flatMap((spec) => (spec.flag === null ? [] : [[spec.flag, spec] as const])));
const ENVS = new Map(OPTIONS.map((spec) => [spec.env, spec] as const));
const FILE_KEYS = new Map(
  OPTIONS.flatMap((spec) => [[spec.key, spec] as const, [kebabCase(spec.key), spec] as const]),
);

// Names a user may write by mistake, each paired with the right one: the option names
// themselves, and the `Config` field spellings (`heartbeatIntervalMs` for `heartbeatInterval`).
const FLAG_GUESSES = OPTIONS.flatMap((spec) =>
  spec.flag === null
    ? []
    : [[spec.flag, `--${spec.flag}`] as const, [kebabCase(spec.field), `--${spec.flag}`] as const],
).concat([[CONFIG_FILE_OPTION.flag, `--${CONFIG_FILE_OPTION.flag}`]]);
const ENV_GUESSES = OPTIONS.flatMap((spec) => [
  [spec.env, spec.env] as const,
  [envName(spec.field), spec.env] as const,
]).concat([[CONFIG_FILE_OPTION.env, CONFIG_FILE_OPTION.env]]);
const FILE_KEY_GUESSES = OPTIONS.flatMap((spec) => [
  [spec.key, spec.key] as const,
  [spec.field, spec.key] as const,
]);

function unexpected(arg: string): string {
  return `${JSON.stringify(arg)}: unexpected argument (serve takes only --flags; see --help)`;
}

function unknown(label: string, what: string, near: string | undefined): string {
  return `${label}: unknown ${what}${near === undefined ? '' : ` (did you mean ${near}?)`}`;
}

export function readFlags(argv: readonly string[]): Source & { readonly configFile?: ConfigFileRef } {
  const settings: RawSetting[] = [];
  const problems: string[] = [];
  let configFile: ConfigFileRef | undefined;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--') {
      // The conventional end of flags: whatever follows is an argument, and serve takes none.
      for (const rest of argv.slice(index + 1)) problems.push(unexpected(rest));
      break;
    }
    if (!arg.startsWith('--')) {
      problems.push(
        arg.startsWith('-')
          ? unknown(arg, 'flag', closest(arg.replace(/^-+/, ''), FLAG_GUESSES))
          : unexpected(arg),
      );
      continue;
    }
    const equals = arg.indexOf('=');
    const name = arg.slice(2, equals === -1 ? undefined : equals);
    const inline = equals === -1 ? undefined : arg.slice(equals + 1);
    const label = `--${name}`;
    const negated = name.startsWith('no-') ? FLAGS.get(name.slice(3)) : undefined;
    const spec = FLAGS.get(name);
    if (negated !== undefined && spec === undefined) {
      if (negated.kind.type !== 'boolean') {
        problems.push(`${label}: only on/off options take --no- (give --${negated.flag} a value)`);
      } else if (inline !== undefined) {
        problems.push(`${label}: takes no value (write --${negated.flag}=${inline} instead)`);
      } else {
        settings.push({ source: 'flag', spec: negated, raw: 'false', label });
      }
      continue;
    }
    if (spec === undefined && name !== CONFIG_FILE_OPTION.flag) {
      problems.push(unknown(label, 'flag', closest(name, FLAG_GUESSES)));
      // Most options take a value: don't report `--prot 80` twice, as a flag and an argument.
      if (inline === undefined && argv[index + 1]?.startsWith('-') === false) index++;
      continue;
    }
    if (spec?.kind.type === 'boolean') {
      settings.push({ source: 'flag', spec, raw: inline ?? 'true', label });
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[index + 1];
      // A following `--flag` means the value was left out, not that it is the value.
      if (next !== undefined && !(next.startsWith('--') && next.length > 2)) {
        value = next;
        index++;
      }
    }
    if (value === undefined) {
      const hint = spec === undefined ? 'give the path of a .yaml, .yml or .json file' : kindHint(spec.kind);
      problems.push(`${label}: missing value (${hint})`);
    } else if (spec === undefined) {
      configFile = { path: value, label };
    } else {
      settings.push({ source: 'flag', spec, raw: value, label });
    }
  }
  return configFile === undefined ? { settings, problems } : { settings, problems, configFile };
}

export function readEnv(
  env: Readonly<Record<string, string | undefined>>,
): Source & { readonly configFile?: ConfigFileRef } {
  const settings: RawSetting[] = [];
  const problems: string[] = [];
  let configFile: ConfigFileRef | undefined;
  for (const [name, value] of Object.entries(env)) {
    // An empty variable counts as unset: `PUSHWIRE_API_KEY=${KEY}` with KEY unset is common.
    if (!name.startsWith('PUSHWIRE_') || value === undefined || value === '') continue;
    const spec = ENVS.get(name);
    if (spec !== undefined) settings.push({ source: 'env', spec, raw: value, label: name });
    else if (name === CONFIG_FILE_OPTION.env) configFile = { path: value, label: name };
    else if (!FOREIGN_ENV_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      problems.push(unknown(name, 'environment variable', closest(name, ENV_GUESSES)));
    }
  }
  return configFile === undefined ? { settings, problems } : { settings, problems, configFile };
}

export function readConfigFile(file: ConfigFileRef, cwd: string): Source {
  const data = parseFile(file, cwd);
  if (typeof data === 'string') return { settings: [], problems: [data] };
  if (data === null || data === undefined) return { settings: [], problems: [] };
  if (typeof data !== 'object' || Array.isArray(data)) {
    return { settings: [], problems: [`${file.path}: must hold a mapping of options (e.g. port: 8080)`] };
  }
  const settings: RawSetting[] = [];
  const problems: string[] = [];
  const seen = new Map<OptionSpec, string>();
  for (const [key, raw] of Object.entries(data)) {
    const label = `${file.path}: ${key}`;
    const spec = FILE_KEYS.get(key);
    if (spec === undefined) {
      problems.push(unknown(label, 'option', closest(key, FILE_KEY_GUESSES)));
      continue;
    }
    const earlier = seen.get(spec);
    if (earlier !== undefined) problems.push(`${label}: set twice (also as ${earlier}; keep one)`);
    seen.set(spec, key);
    settings.push({ source: 'file', spec, raw, label });
  }
  return { settings, problems };
}

/** The file's data, or a problem line. */
function parseFile(file: ConfigFileRef, cwd: string): unknown {
  const type = extname(file.path).toLowerCase();
  if (type !== '.yaml' && type !== '.yml' && type !== '.json') {
    return `${file.label}: ${JSON.stringify(file.path)} is not a .yaml, .yml or .json file`;
  }
  let text: string;
  try {
    text = readFileSync(resolve(cwd, file.path), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String(error);
    return `${file.label}: cannot read ${JSON.stringify(file.path)} (${why})`;
  }
  if (type === '.json') {
    try {
      return JSON.parse(text);
    } catch (error) {
      return `${file.path}: not valid JSON (${(error as Error).message})`;
    }
  }
  const document = parseDocument(text);
  const first = document.errors[0];
  if (first !== undefined)
    return `${file.path}: not valid YAML (${first.message.split('\n')[0]!.replace(/:$/, '')})`;
  return document.toJS();
}
