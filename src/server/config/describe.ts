// How options read to a person: shared by `--help` and docs/configuration.md.
import { DEFAULTS } from './defaults.ts';
import type { OptionKind, OptionSpec } from './options.ts';
import { formatByteSize, formatDuration } from './units.ts';

/** The placeholder after a flag: `--port <n>`. Booleans take none. */
export function valuePlaceholder(kind: OptionKind): string {
  switch (kind.type) {
    case 'integer':
      return '<n>';
    case 'duration':
      return '<duration>';
    case 'bytes':
      return '<size>';
    case 'string':
      return kind.format === 'text' ? '<string>' : '<url>';
    case 'enum':
      return `<${kind.values.join('|')}>`;
    case 'boolean':
      return '';
    case 'list':
      if (kind.item === 'address') return '<addresses>';
      return kind.item === 'origin' ? '<origins>' : '<urls>';
    case 'namespaces':
      return '<json>';
  }
}

/** The default as a user would write it: `15s`, `64kb`, `*`, `unset`. */
export function defaultText(spec: OptionSpec): string {
  const value: unknown = DEFAULTS[spec.field];
  if (value === null) return spec.kind.type === 'duration' || spec.kind.type === 'integer' ? 'off' : 'unset';
  switch (spec.kind.type) {
    case 'duration':
      return formatDuration(value as number);
    case 'bytes':
      return formatByteSize(value as number);
    case 'list': {
      const items = value as readonly string[];
      return items.length === 0 ? 'none' : items.join(',');
    }
    case 'namespaces':
      return 'none';
    default:
      return String(value);
  }
}

/** How a boolean flag reads in full: `--demo`, `--no-demo`. */
export function flagUsage(spec: OptionSpec): string {
  if (spec.flag === null) return '';
  if (spec.kind.type === 'boolean') return `--${spec.flag}, --no-${spec.flag}`;
  return `--${spec.flag} ${valuePlaceholder(spec.kind)}`;
}

/** What an option takes, in a few words: `0-65535`, `duration or off`, `memory, redis`. */
export function acceptsText(kind: OptionKind): string {
  switch (kind.type) {
    case 'integer':
      return `${kind.min}-${kind.max}${kind.nullable ? ', or off' : ''}${kind.auto ? ', or auto' : ''}`;
    case 'duration':
      if (kind.nullable) return 'duration, or 0/off';
      if (kind.minMs > 1) return `duration, at least ${formatDuration(kind.minMs)}`;
      return kind.minMs > 0 ? 'duration above 0' : 'duration';
    case 'bytes':
      return 'size';
    case 'string':
      if (kind.format === 'http-url') return 'http:// or https:// URL';
      return kind.format === 'redis-url' ? 'redis://, rediss:// or redis-sentinel:// URL' : 'string';
    case 'enum':
      return kind.values.join(', ');
    case 'boolean':
      return 'on/off';
    case 'list':
      if (kind.item === 'address') return 'IP addresses or networks, comma-separated';
      return kind.item === 'origin' ? 'origins, comma-separated' : 'Redis URLs, comma-separated';
    case 'namespaces':
      return 'JSON object';
  }
}
