import { namespaceOf } from '../../protocol/index.ts';
import { kebabCase, NAMESPACE_FIELDS, OPTIONS, type OptionSpec } from './options.ts';
import { closest } from './suggest.ts';
import type { Config, NamespaceOptions } from './types.ts';
import { parseValue, show } from './values.ts';

const NAMESPACE_NAME = /^[A-Za-z0-9_.@=-]+$/;
const NAMESPACE_SPECS: readonly OptionSpec[] = NAMESPACE_FIELDS.map(
  (field) => OPTIONS.find((spec) => spec.field === field)!,
);
const KEYS = new Map(
  NAMESPACE_SPECS.flatMap((spec) => [[spec.key, spec] as const, [kebabCase(spec.key), spec] as const]),
);
const GUESSES = NAMESPACE_SPECS.flatMap((spec) => [
  [spec.key, spec.key] as const,
  [spec.field, spec.key] as const,
]);
const KEY_LIST = NAMESPACE_SPECS.map((spec) => spec.key).join(', ');

/**
 * Validates the `namespaces` value (`{ game: { clientPublish: true, historyTtl: '1m' } }`) and
 * fills each namespace's missing fields from `top`. Problems name `label` (the whole value) or
 * `at('game.historyTtl')` (a place inside it).
 */
export function parseNamespaces(
  raw: unknown,
  label: string,
  at: (path: string) => string,
  top: NamespaceOptions,
): { readonly namespaces: Record<string, NamespaceOptions>; readonly problems: readonly string[] } {
  if (raw === null || raw === undefined) return { namespaces: {}, problems: [] };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      namespaces: {},
      problems: [
        `${label}: ${show(raw)} is not a mapping of namespace names to options (e.g. game: { presence: true })`,
      ],
    };
  }
  const problems: string[] = [];
  const entries: [string, NamespaceOptions][] = [];
  for (const [name, options] of Object.entries(raw)) {
    if (!NAMESPACE_NAME.test(name)) {
      problems.push(`${at(name)}: invalid namespace name (use letters, digits and _ . @ = -)`);
      continue;
    }
    entries.push([name, parseNamespace(options, at(name), (key) => at(`${name}.${key}`), top, problems)]);
  }
  // fromEntries defines own properties, so even a namespace named `__proto__` stays data.
  return { namespaces: Object.fromEntries(entries), problems };
}

function parseNamespace(
  raw: unknown,
  label: string,
  at: (key: string) => string,
  top: NamespaceOptions,
  problems: string[],
): NamespaceOptions {
  const options: Record<string, unknown> = { ...top };
  if (raw === null) return options as unknown as NamespaceOptions;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`${label}: ${show(raw)} is not a mapping of options (use ${KEY_LIST})`);
    return top;
  }
  for (const [key, value] of Object.entries(raw)) {
    const spec = KEYS.get(key);
    if (spec === undefined) {
      const near = closest(key, GUESSES);
      problems.push(
        `${at(key)}: not a namespace option (${near === undefined ? `use ${KEY_LIST}` : `did you mean ${near}?`})`,
      );
      continue;
    }
    const parsed = parseValue(spec, value);
    if (parsed.ok) options[spec.field] = parsed.value;
    else problems.push(`${at(key)}: ${parsed.problem}`);
  }
  // Every field was checked by the parser of its option's kind, and the rest come from `top`.
  return options as unknown as NamespaceOptions;
}

const topLevelOptions = new WeakMap<Config, NamespaceOptions>();

/**
 * The options of `channel`: those of its namespace (`ns` of `ns:name`) when the config names
 * it, else the top-level values.
 */
export function resolveChannelOptions(config: Config, channel: string): NamespaceOptions {
  const namespace = namespaceOf(channel);
  if (namespace !== null && Object.hasOwn(config.namespaces, namespace)) return config.namespaces[namespace]!;
  // Called on every publish and subscribe: build the top-level object once per config.
  let top = topLevelOptions.get(config);
  if (top === undefined) {
    top = topLevelOf(config);
    topLevelOptions.set(config, top);
  }
  return top;
}

export function topLevelOf(config: Config): NamespaceOptions {
  const {
    historySize,
    historyTtlMs,
    historyMinAgeMs,
    clientPublish,
    presence,
    hooks,
    subscribeHook,
    publishHook,
  } = config;
  const isPublic = config.public;
  return Object.freeze({
    historySize,
    historyTtlMs,
    historyMinAgeMs,
    clientPublish,
    presence,
    hooks,
    subscribeHook,
    publishHook,
    public: isPublic,
  });
}
