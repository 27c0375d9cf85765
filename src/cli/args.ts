import { closest } from '../server/index.ts';

/** A command called the wrong way: printed with a pointer to its --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface FlagSpec {
  /** The environment variable that gives the value when the flag is absent. */
  readonly env?: string;
}

export interface ParsedArgs {
  readonly positionals: readonly string[];
  /** Each declared flag's value: the flag's, else its environment variable's. */
  readonly values: Readonly<Record<string, string | undefined>>;
  readonly help: boolean;
}

/**
 * Reads `--name value`, `--name=value`, `-h`/`--help` and positionals (everything after `--`
 * too). Unknown flags are refused with the nearest known one. Node's parseArgs is not used:
 * its errors can't suggest a flag, and it takes `-1` (a JSON number to publish) for a flag.
 */
export function parseFlags(argv: readonly string[], flags: Readonly<Record<string, FlagSpec>>): ParsedArgs {
  const positionals: string[] = [];
  const given: Record<string, string> = {};
  let help = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--') {
      positionals.push(...argv.slice(index + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const name = arg.slice(arg.startsWith('--') ? 2 : 1, equals === -1 ? undefined : equals);
    if (!arg.startsWith('--') || !Object.hasOwn(flags, name)) throw new UsageError(unknownFlag(arg, flags));
    let value = equals === -1 ? undefined : arg.slice(equals + 1);
    if (value === undefined) {
      const next = argv[index + 1];
      // A following flag means the value was left out, not that the flag is the value.
      if (next !== undefined && !(next.startsWith('--') && next.length > 2)) {
        value = next;
        index++;
      }
    }
    if (value === undefined) throw new UsageError(`--${name} needs a value`);
    given[name] = value;
  }
  const values: Record<string, string | undefined> = {};
  for (const [name, spec] of Object.entries(flags)) {
    const fromEnv = spec.env === undefined ? undefined : process.env[spec.env];
    // An empty variable counts as unset, as it does for `pushwire serve`.
    values[name] = given[name] ?? (fromEnv === '' ? undefined : fromEnv);
  }
  return { positionals, values, help };
}

function unknownFlag(arg: string, flags: Readonly<Record<string, FlagSpec>>): string {
  const typed = arg.replace(/^-+/, '').split('=')[0]!;
  const names = [...Object.keys(flags), 'help'].map((name) => [name, `--${name}`] as const);
  const near = closest(typed, names);
  return `unknown flag ${arg.split('=')[0]}${near === undefined ? '' : ` (did you mean ${near}?)`}`;
}

/** What the user meant by a server URL, and how it was read when that needed saying. */
export interface ServerUrl {
  readonly url: string;
  /** Set when the URL was completed (a scheme added): worth a line on stderr. */
  readonly note?: string;
}

const DEFAULT_URL = 'http://localhost:8080';
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * The server's base URL from `--url`, else PUSHWIRE_URL, else http://localhost:8080.
 * `localhost:8080` gets `http://` (said on stderr); ws:// and wss:// mean the same server
 * over http:// and https://; any other scheme is refused.
 */
export function serverUrl(flag: string | undefined): ServerUrl {
  const env = process.env.PUSHWIRE_URL;
  const source = flag !== undefined ? '--url' : env ? 'PUSHWIRE_URL' : null;
  const text = (flag ?? (env || DEFAULT_URL)).trim();
  if (text === '') throw new UsageError(`${source}: give the server's URL, e.g. ${DEFAULT_URL}`);
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  let url = text;
  let note: string | undefined;
  if (scheme === undefined) {
    url = `http://${text}`;
    note = `${source} ${text} has no scheme: using ${url.replace(/\/+$/, '')}`;
  } else if (scheme === 'ws' || scheme === 'wss') {
    url = text.replace(SCHEME, scheme === 'ws' ? 'http://' : 'https://');
  } else if (scheme !== 'http' && scheme !== 'https') {
    throw new UsageError(`${source}: ${text} is not an http:// or https:// URL`);
  }
  try {
    const parsed = new URL(url);
    if (parsed.search || parsed.hash) throw new Error('query');
  } catch {
    throw new UsageError(`${source}: ${JSON.stringify(text)} is not a URL (e.g. ${DEFAULT_URL})`);
  }
  url = url.replace(/\/+$/, '');
  return note === undefined ? { url } : { url, note };
}
