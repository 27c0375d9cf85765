import { parseArgs } from 'node:util';
import { TARGET_NAMES, type TargetName } from './targets.ts';
import { TRANSPORTS, type TransportName } from './wire.ts';

export interface BenchOptions {
  readonly targets: readonly TargetName[];
  readonly transports: readonly TransportName[];
  readonly subscribers: readonly number[];
  /** Messages per second. */
  readonly rate: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
  /** Runs of each scenario; the report takes the median. */
  readonly repeat: number;
  readonly outDir: string | null;
  readonly quick: boolean;
  readonly help: boolean;
}

/** The issue-3 scenario: 1,000 subscribers per transport, 100 msg/s for 10 s, raw as the control. */
export const DEFAULTS = {
  targets: ['pushwire', 'raw'],
  transports: TRANSPORTS,
  subscribers: [1000],
  rate: 100,
  durationMs: 10_000,
  payloadBytes: 100,
  repeat: 1,
} as const;

/** `--quick`: every target and transport, small and short: about a minute in all. */
const QUICK = { subscribers: [500], durationMs: 2000 } as const;

export const USAGE = `usage: pushwire bench [options]

Starts each target fresh, drives it with subscribers in child processes and one publisher,
prints a progress line per scenario on stderr and a results table on stdout, and writes
results.json and report.html.

  --quick                  every target and transport, 500 subscribers, 2 s each (~1 min)
  --targets LIST           pushwire,raw,socketio,nchan (default pushwire,raw)
  --transports LIST        ws,sse,poll,stream (default all; a target runs those it has)
  --subs LIST              subscribers per scenario, e.g. 1000,5000 (default 1000)
  --rate N                 messages per second (default 100)
  --duration D             publishing time per scenario: 10s, 1500ms, 1m (default 10s)
  --payload BYTES          size of each message's data (default 100)
  --repeat N               runs per scenario, medians reported (default 1)
  --out DIR                where results go (default bench/results/<timestamp>)
  -h, --help               this text
`;

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean', default: false },
      targets: { type: 'string' },
      transports: { type: 'string' },
      subs: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      payload: { type: 'string' },
      repeat: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick === true;
  return {
    quick,
    help: values.help === true,
    targets: values.targets
      ? list('--targets', values.targets, TARGET_NAMES)
      : quick
        ? TARGET_NAMES
        : DEFAULTS.targets,
    transports: values.transports ? list('--transports', values.transports, TRANSPORTS) : DEFAULTS.transports,
    subscribers: values.subs
      ? values.subs.split(',').map((s) => positiveInt('--subs', s))
      : quick
        ? QUICK.subscribers
        : DEFAULTS.subscribers,
    rate: values.rate ? positiveInt('--rate', values.rate) : DEFAULTS.rate,
    durationMs: values.duration
      ? parseDurationMs(values.duration)
      : quick
        ? QUICK.durationMs
        : DEFAULTS.durationMs,
    payloadBytes: values.payload ? positiveInt('--payload', values.payload) : DEFAULTS.payloadBytes,
    repeat: values.repeat ? positiveInt('--repeat', values.repeat) : DEFAULTS.repeat,
    outDir: values.out ?? null,
  };
}

function list<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(',').map((s) => s.trim());
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new Error(`${flag}: "${item}" is not one of ${allowed.join(', ')}`);
    }
  }
  return items as T[];
}

function positiveInt(flag: string, text: string): number {
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`${flag}: "${text}" is not a positive integer`);
  return value;
}

/** `10s`, `1500ms`, `2m`, or a bare number of milliseconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`--duration: "${text}" is not a duration (e.g. 10s, 1500ms, 1m)`);
  const unit = match[2] ?? 'ms';
  const ms = Number(match[1]) * (unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1);
  if (ms < 100) throw new Error(`--duration: "${text}" is shorter than 100ms`);
  return Math.round(ms);
}
