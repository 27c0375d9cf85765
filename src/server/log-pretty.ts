// Turns one of pino's JSON lines into one line for a person:
//   14:02:07.412 WARN  redis at 127.0.0.1:6379 unreachable (ECONNREFUSED); retrying
// Written here rather than taken from pino-pretty, which would bring 13 packages (and their
// own dependencies) into every server install for these few lines.

const LEVELS: Readonly<Record<number, { name: string; color: string }>> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '90' },
  30: { name: 'INFO', color: '32' },
  40: { name: 'WARN', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '35' },
};
/** Fields every pino line has, shown in the line's own layout or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'err']);
const ERROR_LEVEL = 50;

interface SerializedError {
  readonly message?: unknown;
  readonly code?: unknown;
  readonly stack?: unknown;
}

/** One pino JSON line as `time LEVEL message key=value`, ending in a newline. */
export function prettyLine(json: string, color: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const paint = (code: string, text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const level = LEVELS[Number(record.level)] ?? { name: String(record.level), color: '0' };
  const time = typeof record.time === 'number' ? clock(new Date(record.time)) : '';
  const fields = Object.entries(record)
    .filter(([key, value]) => !OMITTED.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${fieldText(value)}`);
  const err = record.err as SerializedError | undefined;
  const because = typeof err?.message === 'string' ? `: ${err.message}` : '';
  let line = `${paint('2', time)} ${paint(level.color, level.name.padEnd(5))} ${String(record.msg ?? '')}${because}`;
  if (fields.length > 0) line += ` ${paint('2', fields.join(' '))}`;
  // A stack is for a bug, worth its lines only at error level and above.
  if (Number(record.level) >= ERROR_LEVEL && typeof err?.stack === 'string') {
    line += `\n${paint('2', err.stack.split('\n').slice(1).join('\n'))}`;
  }
  return `${line}\n`;
}

function clock(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const ms = String(date.getMilliseconds()).padStart(3, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${ms}`;
}

function fieldText(value: unknown): string {
  if (typeof value === 'string' && /^[^\s"=]+$/.test(value)) return value;
  return JSON.stringify(value);
}

/**
 * Colours on a terminal unless NO_COLOR is set (https://no-color.org); FORCE_COLOR turns them
 * on anywhere (FORCE_COLOR=0 off).
 */
export function wantsColor(stream: { readonly isTTY?: boolean }, env = process.env): boolean {
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true;
}
