// Parses one option value, from a flag or env var (always text) or a config file (any data),
// into its typed value, or into a problem that says what the option accepts.
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { redactRedisUrl } from '../../brokers/index.ts';
import type { ListItem, OptionKind, OptionSpec, StringFormat } from './options.ts';
import { closest } from './suggest.ts';
import { formatByteSize, formatDuration, parseByteSize, parseDuration } from './units.ts';

export type Parsed =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly problem: string };

const REDIS_URL_HINT = 'use redis://host:port, rediss://host:port or redis-sentinel://host:26379/master';
const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);
const ok = (value: unknown): Parsed => ({ ok: true, value });
const fail = (problem: string): Parsed => ({ ok: false, problem });

export function parseValue(spec: OptionSpec, raw: unknown): Parsed {
  const kind = spec.kind;
  const redisUrls =
    (kind.type === 'string' && kind.format === 'redis-url') ||
    (kind.type === 'list' && kind.item === 'redis-url');
  const shown = kind.type === 'string' && kind.secret ? 'the value' : show(redisUrls ? redacted(raw) : raw);
  switch (kind.type) {
    case 'integer':
      return parseInteger(kind, raw, shown);
    case 'duration':
      return parseDurationValue(kind, raw, shown);
    case 'bytes':
      return parseBytesValue(kind.min, raw, shown);
    case 'string':
      return parseString(kind.format, kind.nullable, raw, shown);
    case 'enum':
      return parseEnum(kind.values, raw, shown);
    case 'boolean':
      return parseBoolean(raw, shown);
    case 'list':
      if (kind.item === 'address') return parseAddressList(raw, shown);
      return kind.item === 'origin' ? parseOriginList(raw, shown) : parseRedisUrlList(raw, shown);
    case 'namespaces':
      return parseJsonObject(raw, shown);
  }
}

/** What an option accepts, as said in errors, `--help` and the docs. */
export function kindHint(kind: OptionKind): string {
  switch (kind.type) {
    case 'integer':
      return `use a whole number from ${kind.min} to ${kind.max}${kind.nullable ? ', or off' : ''}${kind.auto ? ', or auto' : ''}`;
    case 'duration':
      return `use milliseconds or a unit: 500ms, 15s, 2m${kind.nullable ? ', or 0/off to disable' : ''}`;
    case 'bytes':
      return 'use bytes or a unit: 65536, 64kb, 1mb';
    case 'string':
      if (kind.format === 'http-url') return 'use an http:// or https:// URL';
      return kind.format === 'redis-url' ? REDIS_URL_HINT : 'give a non-empty string';
    case 'enum':
      return `use one of ${kind.values.join(', ')}`;
    case 'boolean':
      return 'use true/false, yes/no, on/off or 1/0';
    case 'list':
      return listHint(kind.item);
    case 'namespaces':
      return 'give an object such as {"game":{"clientPublish":true}}';
  }
}

function listHint(item: ListItem): string {
  if (item === 'address') return 'use IP addresses or networks (10.0.0.0/8, ::1), comma-separated';
  return item === 'origin'
    ? 'use * or origins scheme://host[:port], comma-separated'
    : 'use Redis URLs, comma-separated, or nothing for none';
}

/** The trimmed, non-empty items of a comma list or a list of strings; null for anything else. */
function listItems(raw: unknown): string[] | null {
  const items =
    typeof raw === 'string'
      ? raw.split(',')
      : Array.isArray(raw) && raw.every((item) => typeof item === 'string')
        ? (raw as string[])
        : null;
  return items?.map((entry) => entry.trim()).filter((entry) => entry !== '') ?? null;
}

/** IP addresses and networks (`10.0.0.0/8`), as --trust-proxy takes them; none is allowed. */
function parseAddressList(raw: unknown, shown: string): Parsed {
  const items = listItems(raw);
  if (items === null) return fail(`${shown} is not a list of addresses (${listHint('address')})`);
  const entries: string[] = [];
  for (const item of items) {
    if (!isAddressEntry(item)) {
      return fail(`${show(item)} is not an IP address or network (${listHint('address')})`);
    }
    if (!entries.includes(item)) entries.push(item);
  }
  return ok(entries);
}

/** An IP address, or a network `address/prefix`. */
export function isAddressEntry(entry: string): boolean {
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 6 ? 128 : 32);
}

/** Redis URLs as an error may show them: without their passwords. */
function redacted(raw: unknown): unknown {
  if (typeof raw === 'string') return redactRedisUrl(raw);
  return Array.isArray(raw) ? raw.map(redacted) : raw;
}

/** How a value reads in an error: text quoted, data as JSON, long values cut. */
export function show(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    // A YAML alias can make a value that contains itself.
    text = Array.isArray(raw) ? 'a list' : 'a mapping';
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function wholeNumber(raw: unknown, parse: (text: string) => number | undefined): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  return typeof raw === 'string' ? parse(raw) : undefined;
}

function parseInteger(
  kind: { min: number; max: number; nullable?: boolean; auto?: boolean },
  raw: unknown,
  shown: string,
): Parsed {
  if (kind.auto && typeof raw === 'string' && raw.trim().toLowerCase() === 'auto') {
    return ok(Math.min(kind.max, Math.max(kind.min, availableParallelism())));
  }
  if (kind.nullable && (raw === null || (typeof raw === 'string' && raw.trim().toLowerCase() === 'off'))) {
    return ok(null);
  }
  const value =
    typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value))
    return fail(`${shown} is not a whole number (${kindHint({ type: 'integer', ...kind })})`);
  if (value < kind.min || value > kind.max) {
    return fail(`${shown} is out of range (use a whole number from ${kind.min} to ${kind.max})`);
  }
  return ok(value);
}

function parseDurationValue(
  kind: Extract<OptionKind, { type: 'duration' }>,
  raw: unknown,
  shown: string,
): Parsed {
  if (kind.nullable && (raw === null || (typeof raw === 'string' && raw.trim().toLowerCase() === 'off'))) {
    return ok(null);
  }
  const ms = wholeNumber(raw, parseDuration);
  if (ms === undefined) return fail(`${shown} is not a duration (${kindHint(kind)})`);
  if (ms === 0 && kind.nullable) return ok(null);
  if (ms < kind.minMs) {
    const least = kind.minMs === 1 ? 'a duration above 0' : `at least ${formatDuration(kind.minMs)}`;
    return fail(`${shown} is too short (use ${least})`);
  }
  if (ms > kind.maxMs) {
    const days = Math.floor(kind.maxMs / 86_400_000);
    return fail(`${shown} is too long (use at most ${kind.maxMs}ms, about ${days} days)`);
  }
  return ok(ms);
}

function parseBytesValue(min: number, raw: unknown, shown: string): Parsed {
  const bytes = wholeNumber(raw, parseByteSize);
  if (bytes === undefined) return fail(`${shown} is not a byte size (${kindHint({ type: 'bytes', min })})`);
  if (bytes < min)
    return fail(
      `${shown} is too small (use at least ${formatByteSize(min)} ${min === 1 ? 'byte' : 'bytes'})`,
    );
  return ok(bytes);
}

function parseString(format: StringFormat, nullable: boolean, raw: unknown, shown: string): Parsed {
  if (raw === null && nullable) return ok(null);
  if (typeof raw !== 'string') return fail(`${shown} is not a string (quote it)`);
  if (raw.trim() === '') return fail(`${shown} is empty (give a non-empty string)`);
  if (format === 'http-url') {
    return isHttpUrl(raw) ? ok(raw.trim()) : fail(`${shown} is not an http:// or https:// URL`);
  }
  if (format !== 'redis-url') return ok(raw);
  return isRedisUrl(raw) ? ok(raw.trim()) : fail(`${shown} is not a Redis URL (${REDIS_URL_HINT})`);
}

function isHttpUrl(text: string): boolean {
  const trimmed = text.trim();
  if (!URL.canParse(trimmed)) return false;
  const { protocol } = new URL(trimmed);
  return protocol === 'http:' || protocol === 'https:';
}

// `new URL` can't read these: Sentinel and Cluster URLs list several comma-separated hosts.
const HOST = String.raw`(?:\[[0-9a-fA-F:.]+\]|[^\s:,/@?#\[\]]+)(?::\d{1,5})?`;
const REDIS_URL = new RegExp(
  String.raw`^(redis|rediss|redis-sentinel)://(?:[^\s@/]*@)?${HOST}(?:,${HOST})*(/[^\s?#]*)?(?:\?\S*)?$`,
);

/** `redis://` or `rediss://` (one host, or a cluster's seed hosts), or a Sentinel URL naming its master. */
export function isRedisUrl(text: string): boolean {
  const match = REDIS_URL.exec(text.trim());
  if (!match) return false;
  return match[1] !== 'redis-sentinel' || /^\/[^/]+/.test(match[2] ?? '');
}

/** How many hosts a Redis URL names: several for a cluster's seeds or a Sentinel group. */
export function redisUrlHosts(text: string): number {
  const authority = text.replace(/^[a-z-]+:\/\/(?:[^@/]*@)?/, '').split(/[/?]/)[0] ?? '';
  return authority.split(',').length;
}

/**
 * A comma list of Redis URLs (or a list in a file). A Sentinel URL's own host list has commas
 * too: a piece that doesn't start with a scheme continues the URL before it.
 */
function parseRedisUrlList(raw: unknown, shown: string): Parsed {
  let items: string[];
  if (typeof raw === 'string') {
    items = [];
    for (const piece of raw.split(',').map((entry) => entry.trim())) {
      if (piece === '') continue;
      if (items.length > 0 && !/^[a-z][a-z0-9+.-]*:\/\//i.test(piece)) items.push(`${items.pop()},${piece}`);
      else items.push(piece);
    }
  } else if (Array.isArray(raw) && raw.every((item) => typeof item === 'string')) {
    items = raw.map((item) => item.trim()).filter((item) => item !== '');
  } else {
    return fail(`${shown} is not a list of Redis URLs (${listHint('redis-url')})`);
  }
  const urls: string[] = [];
  for (const item of items) {
    if (!isRedisUrl(item))
      return fail(`${show(redactRedisUrl(item))} is not a Redis URL (${REDIS_URL_HINT})`);
    if (!urls.includes(item)) urls.push(item);
  }
  return ok(urls);
}

function parseEnum(values: readonly string[], raw: unknown, shown: string): Parsed {
  if (typeof raw === 'string' && values.includes(raw)) return ok(raw);
  const near =
    typeof raw === 'string'
      ? closest(
          raw,
          values.map((value) => [value, value] as const),
        )
      : undefined;
  return fail(
    `${shown} is not one of ${values.join(', ')}${near === undefined ? '' : ` (did you mean ${near}?)`}`,
  );
}

function parseBoolean(raw: unknown, shown: string): Parsed {
  if (typeof raw === 'boolean') return ok(raw);
  const word =
    typeof raw === 'string' ? raw.trim().toLowerCase() : typeof raw === 'number' ? String(raw) : '';
  if (TRUE_WORDS.has(word)) return ok(true);
  if (FALSE_WORDS.has(word)) return ok(false);
  return fail(`${shown} is not a boolean (${kindHint({ type: 'boolean' })})`);
}

/** `*`, or origins as browsers send them (`https://example.com:8443`); an empty list allows none. */
function parseOriginList(raw: unknown, shown: string): Parsed {
  const items = listItems(raw);
  if (items === null) return fail(`${shown} is not a list of origins (${listHint('origin')})`);
  const origins: string[] = [];
  for (const item of items) {
    const origin = item === '*' ? item : asOrigin(item);
    if (origin === undefined) {
      return fail(`${show(item)} is not an origin (use * or scheme://host[:port], e.g. https://example.com)`);
    }
    if (!origins.includes(origin)) origins.push(origin);
  }
  return ok(origins);
}

function asOrigin(text: string): string | undefined {
  if (!URL.canParse(text)) return undefined;
  const url = new URL(text);
  const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '';
  if (!bare || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  // Browsers send the origin lowercased and without a default port: compare in that form.
  return url.origin;
}

function parseJsonObject(raw: unknown, shown: string): Parsed {
  if (typeof raw !== 'string') return ok(raw);
  try {
    return ok(JSON.parse(raw));
  } catch {
    return fail(`${shown} is not JSON (${kindHint({ type: 'namespaces' })})`);
  }
}
