// Text forms of durations and byte sizes, as written in flags, env vars and config files.

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const BYTE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1_024,
  kib: 1_024,
  mb: 1_048_576,
  mib: 1_048_576,
  gb: 1_073_741_824,
  gib: 1_073_741_824,
};

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/;
const BYTES_PATTERN = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/;

/**
 * Milliseconds from `15000`, `500ms`, `15s`, `2m`, `1.5h`; undefined when `text` is none of
 * these or does not come to a whole number of milliseconds.
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) return undefined;
  return scaled(match[1]!, match[2] === undefined ? 1 : DURATION_UNITS_MS[match[2]]);
}

/** Bytes from `65536`, `64kb`, `1mb`, `1gb` (units of 1024, any case); undefined otherwise. */
export function parseByteSize(text: string): number | undefined {
  const match = BYTES_PATTERN.exec(text.trim().toLowerCase());
  if (!match) return undefined;
  return scaled(match[1]!, match[2] === undefined ? 1 : BYTE_UNITS[match[2]]);
}

function scaled(amount: string, unit: number | undefined): number | undefined {
  if (unit === undefined) return undefined;
  const value = Number(amount) * unit;
  const whole = Math.round(value);
  // 1.1 * 1000 is 1100.0000000000002 in floating point: accept what is whole up to rounding.
  if (!Number.isSafeInteger(whole) || Math.abs(value - whole) > 1e-6) return undefined;
  return whole;
}

/** The shortest exact text form of `ms`: 15000 → `15s`, 300000 → `5m`, 1500 → `1500ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  for (const unit of ['h', 'm', 's'] as const) {
    const size = DURATION_UNITS_MS[unit]!;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** The shortest exact text form of a byte count: 65536 → `64kb`, 1000 → `1000`. */
export function formatByteSize(bytes: number): string {
  if (bytes === 0) return '0';
  for (const unit of ['gb', 'mb', 'kb'] as const) {
    const size = BYTE_UNITS[unit]!;
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
