import { parseArgs } from 'node:util';
import { parseMix, type TransportShare } from './capacity.ts';
import { TARGET_NAMES, type TargetName } from './targets.ts';
import { TRANSPORTS, type TransportName } from './wire.ts';

export const SCENARIO_NAMES = [
  'fanout',
  'max-rate',
  'idle',
  'channels',
  'publish',
  'reconnect',
  'connect',
  'flood',
  'drops',
  'drops-silent',
  'capacity',
] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export interface BenchOptions {
  readonly scenarios: readonly ScenarioName[];
  readonly targets: readonly TargetName[];
  readonly transports: readonly TransportName[];
  /** `--subs`, `--rate`, `--duration` as given; null: each scenario's default (settingsFor). */
  readonly subscribers: readonly number[] | null;
  /** Messages per second. */
  readonly rate: number | null;
  readonly durationMs: number | null;
  /** Publishes in flight in the publish-throughput scenario. */
  readonly inFlight: number;
  readonly payloadBytes: number;
  /**
   * Where a message's latency starts: `send`, when its publish request was written; `schedule`,
   * when it was due (`start + (seq − 1) / rate`), so that time a message waited in a publisher
   * held back by a slow target counts too (see docs/benchmarks.md, Method).
   */
  readonly latencyFrom: 'send' | 'schedule';
  /** Runs of each scenario; the report takes the median. */
  readonly repeat: number;
  readonly outDir: string | null;
  /** `node` flags for every Node target (`--node-args`): a tuned runtime, the same for all. */
  readonly nodeArgs: readonly string[];
  /** Where the Node targets write a CPU profile (`node --cpu-prof`) per run; null: none. */
  readonly profileDir: string | null;
  /**
   * `serve` arguments added to Pushwire's defaults (`--pushwire-args`, and `--workers N` as
   * `--workers N`); empty: the defaults.
   */
  readonly pushwireArgs: readonly string[];
  /** Pushwire's `serve --workers`: worker processes sharing the port (1: the one process). */
  readonly workers: number;
  /** The drop scenarios: each client's network drops every this long (± 20 %)… */
  readonly dropEveryMs: number;
  /** …and stays away about this long. */
  readonly dropAwayMs: number;
  /** The capacity scenario: its transport mix (`--mix`) and how long it holds (`--hold`). */
  readonly mix: readonly TransportShare[];
  readonly holdMs: number;
  readonly quick: boolean;
  /** `--headline`: the run behind the table docs/benchmarks.md opens with (see HEADLINE). */
  readonly headline: boolean;
  readonly help: boolean;
}

/**
 * `--headline`: the fan-out at N = 2,000 (100 msg/s, 10 s), idle memory and connection set-up
 * at N = 10,000, every target and transport, Pushwire with its defaults: one command for the
 * table docs/benchmarks.md opens with (written as summary.md).
 */
const HEADLINE = {
  scenarios: ['fanout', 'idle', 'connect'],
  fanoutSubscribers: [2000],
} as const;

/** With no flags: the fan-out scenario only, on Pushwire and the raw ceiling as the control. */
export const DEFAULTS = {
  scenarios: ['fanout'],
  targets: ['pushwire', 'raw'],
  transports: TRANSPORTS,
  inFlight: 64,
  payloadBytes: 100,
  latencyFrom: 'send',
  repeat: 1,
  dropEveryMs: 15_000,
  dropAwayMs: 2000,
  workers: 1,
  mix: 'ws=70,sse=20,poll=10',
  holdMs: 300_000,
} as const;

/** What one scenario runs with: N values, a rate (msg/s, total over channels) and a duration. */
export interface ScenarioSettings {
  readonly subscribers: readonly number[];
  readonly rate: number;
  readonly durationMs: number;
}

/**
 * Each scenario's defaults (issue 3's fan-out: 1,000 subscribers, 100 msg/s, 10 s). For
 * max-rate the rate is the first step's; for publish it is unused (as fast as answered).
 */
const SCENARIO_DEFAULTS: Readonly<Record<ScenarioName, ScenarioSettings>> = {
  fanout: { subscribers: [1000], rate: 100, durationMs: 10_000 },
  'max-rate': { subscribers: [1000], rate: 100, durationMs: 5000 },
  idle: { subscribers: [10_000], rate: 0, durationMs: 0 },
  channels: { subscribers: [10_000], rate: 2000, durationMs: 10_000 },
  publish: { subscribers: [1000], rate: 0, durationMs: 5000 },
  // 10 msg/s: 10,000 subscribers at 100 msg/s are a million deliveries a second, more than
  // two cores carry, and the storm would time the overload rather than the reconnecting.
  reconnect: { subscribers: [10_000], rate: 10, durationMs: 10_000 },
  connect: { subscribers: [10_000], rate: 0, durationMs: 0 },
  // Small: the point is the healthy subscribers' latency beside one flooder, not the load.
  flood: { subscribers: [200], rate: 100, durationMs: 5000 },
  // AnyCable's harness: 10,000 clients, 2 msg/s, 2 minutes of drops every ~15 s for ~2 s.
  drops: { subscribers: [10_000], rate: 2, durationMs: 120_000 },
  'drops-silent': { subscribers: [10_000], rate: 2, durationMs: 120_000 },
  // 100,000 idle connections on one machine (issue 20); it holds for --hold, publishes once.
  capacity: { subscribers: [100_000], rate: 0, durationMs: 0 },
};

/** `--quick`: every target and transport, small and short: about a minute for the fan-out. */
const QUICK = { subscribers: [500], durationMs: 2000 } as const;

/** The settings of `scenario`: the flags given, else `--quick`'s, else the scenario's defaults. */
export function settingsFor(scenario: ScenarioName, options: BenchOptions): ScenarioSettings {
  const defaults =
    options.headline && scenario === 'fanout'
      ? { ...SCENARIO_DEFAULTS.fanout, subscribers: HEADLINE.fanoutSubscribers }
      : SCENARIO_DEFAULTS[scenario];
  return {
    subscribers: options.subscribers ?? (options.quick ? QUICK.subscribers : defaults.subscribers),
    rate: options.rate ?? defaults.rate,
    durationMs: options.durationMs ?? (options.quick ? QUICK.durationMs : defaults.durationMs),
  };
}

export const USAGE = `usage: pushwire bench [options]

Starts each target fresh, drives it with subscribers in child processes and one publisher,
prints a progress line per scenario on stderr and a results table on stdout, and writes
results.json and report.html.

  --scenarios LIST         fanout,max-rate,idle,channels,publish,reconnect,connect,flood,
                           drops,drops-silent,capacity, or all (every one but capacity,
                           which needs --workers; default fanout):
                             fanout     N subscribers of one channel, a fixed rate
                             max-rate   fan-out at N = 1000 with the rate doubled from --rate
                                        until p99 > 1 s, a loss or a publisher behind schedule,
                                        then bisected twice below the rate that failed
                                        (a step missed on latency alone runs 3 times; 2 must hold)
                             idle       N connections, nothing published: RSS per connection
                             channels   N channels with one subscriber each, --rate in total
                             publish    POST /api/publish as fast as answered, --in-flight
                                        at a time, with no subscribers and with N
                             reconnect  N subscribers dropped at once mid-run reconnect with
                                        their cursors (targets with resume: pushwire, raw)
                             connect    connections set up and subscribed per second
                             flood      N subscribers' latency without and with one
                                        WebSocket flooding frames (junk, unknown ops,
                                        subscribes) and coming back when cut (pushwire)
                             drops      N Pushwire SDK clients of one channel at 2 msg/s for
                                        2 min, each one's network cut every 15 s ± 3 s for
                                        ~2 s (socket reset, no close frame); the SDK
                                        reconnects and resumes: delivered % (once, in order),
                                        replay latency (pushwire only)
                             drops-silent  the same, but the server's half of each dropped
                                        connection is left open and silent (a loopback
                                        proxy blackholes it): server connections vs clients
                             capacity   N idle connections (default 100000) in a transport
                                        mix (--mix), all on one channel, held --hold with
                                        heartbeats on: connections open, drops and RSS
                                        sampled every 5 s; RSS per connection per transport
                                        (opened one transport at a time); then one publish:
                                        time to 100 % delivered, p50/p99 (pushwire, and raw
                                        as a cluster of the same --workers)
  --quick                  every target and transport, 500 subscribers, 2 s each (~1 min)
  --headline               the table docs/benchmarks.md opens with: fanout at N = 2000,
                           idle and connect at N = 10000, every target and transport
                           (other flags still apply); written as summary.md
  --targets LIST           pushwire,raw,socketio,nchan (default pushwire,raw)
  --transports LIST        ws,sse,poll,stream (default all; a target runs those it has)
  --subs LIST              N, one scenario per value, e.g. 1000,5000 (default per scenario:
                           fanout, max-rate, publish 1000; idle, channels, reconnect,
                           connect, drops 10000; flood 200; capacity 100000)
  --rate N                 messages per second (default 100; channels 2000, reconnect 10,
                           drops 2)
  --duration D             publishing time per scenario: 10s, 1500ms, 1m (default 10s;
                           max-rate steps, publish and flood 5s; drops 2m)
  --drop-every D           drops: each client's network drops every D ± 20 % (default 15s)
  --drop-away D            drops: and stays away about D (default 2s)
  --mix LIST               capacity: transport shares, e.g. ws=70,sse=20,poll=10 (default)
  --hold D                 capacity: how long the connections are held (default 5m)
  --in-flight K            publishes in flight in the publish scenario (default 64)
  --payload BYTES          size of each message's data (default 100)
  --latency-from WHEN      send: a message's latency counts from its publish request
                           (default); schedule: from when it was due, so a target that
                           answers publishes slowly and holds the publisher back is charged
                           for the wait (fan-out scenarios)
  --repeat N               runs per scenario, medians reported (default 1); made in
                           rounds, the targets taking turns, every other round reversed
  --out DIR                where results go (default packages/bench/results/<timestamp>)
  --pushwire-args ARGS     serve arguments added to Pushwire's defaults, e.g.
                           "--history-size 1000 --log-level warn" (default none: Pushwire
                           runs with the settings a user gets)
  --node-args=ARGS         node flags for every Node target (pushwire, raw, socketio), e.g.
                           --node-args=--max-semi-space-size=8 (with "=": the value starts
                           with --) (default none: Node's defaults)
  --profile DIR            Node targets (pushwire, raw, socketio) write a CPU profile of
                           each run there (node --cpu-prof), and the load generator's
                           processes under DIR/generator; open them in Chrome DevTools
  --workers N              run Pushwire as serve --workers N (default 1): compare the
                           fan-out of 1 and 2 workers; CPU and memory add up the workers.
                           capacity runs raw as a cluster of N too; each process holds at
                           most ~19,000 connections (20,000 open files), so N=100000 needs 6
  -h, --help               this text
`;

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      quick: { type: 'boolean', default: false },
      headline: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      'in-flight': { type: 'string' },
      'drop-every': { type: 'string' },
      'drop-away': { type: 'string' },
      targets: { type: 'string' },
      transports: { type: 'string' },
      subs: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      payload: { type: 'string' },
      'latency-from': { type: 'string' },
      repeat: { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'string' },
      'pushwire-args': { type: 'string' },
      'node-args': { type: 'string' },
      workers: { type: 'string' },
      mix: { type: 'string' },
      hold: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick === true;
  const headline = values.headline === true;
  const workers = values.workers ? positiveInt('--workers', values.workers) : DEFAULTS.workers;
  return {
    quick,
    headline,
    help: values.help === true,
    scenarios: values.scenarios
      ? values.scenarios.trim() === 'all'
        ? SCENARIO_NAMES.filter((name) => name !== 'capacity')
        : list('--scenarios', values.scenarios, SCENARIO_NAMES)
      : headline
        ? HEADLINE.scenarios
        : DEFAULTS.scenarios,
    targets: values.targets
      ? list('--targets', values.targets, TARGET_NAMES)
      : quick || headline
        ? TARGET_NAMES
        : DEFAULTS.targets,
    transports: values.transports ? list('--transports', values.transports, TRANSPORTS) : DEFAULTS.transports,
    subscribers: values.subs ? values.subs.split(',').map((s) => positiveInt('--subs', s)) : null,
    rate: values.rate ? positiveInt('--rate', values.rate) : null,
    durationMs: values.duration ? parseDurationMs(values.duration) : null,
    inFlight: values['in-flight'] ? positiveInt('--in-flight', values['in-flight']) : DEFAULTS.inFlight,
    payloadBytes: values.payload ? positiveInt('--payload', values.payload) : DEFAULTS.payloadBytes,
    latencyFrom: values['latency-from'] ? latencyFrom(values['latency-from']) : DEFAULTS.latencyFrom,
    repeat: values.repeat ? positiveInt('--repeat', values.repeat) : DEFAULTS.repeat,
    dropEveryMs: values['drop-every']
      ? parseDurationMs(values['drop-every'], '--drop-every')
      : DEFAULTS.dropEveryMs,
    dropAwayMs: values['drop-away']
      ? parseDurationMs(values['drop-away'], '--drop-away')
      : DEFAULTS.dropAwayMs,
    mix: parseMix(values.mix ?? DEFAULTS.mix, TRANSPORTS),
    holdMs: values.hold ? parseDurationMs(values.hold, '--hold') : DEFAULTS.holdMs,
    outDir: values.out ?? null,
    profileDir: values.profile ?? null,
    nodeArgs: (values['node-args'] ?? '').split(/\s+/).filter((arg) => arg !== ''),
    pushwireArgs: [
      ...(workers > 1 ? ['--workers', String(workers)] : []),
      ...(values['pushwire-args'] ?? '').split(/\s+/).filter((arg) => arg !== ''),
    ],
    workers,
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

function latencyFrom(text: string): 'send' | 'schedule' {
  const value = text.trim();
  if (value !== 'send' && value !== 'schedule') {
    throw new Error(`--latency-from: "${text}" is not send or schedule`);
  }
  return value;
}

function positiveInt(flag: string, text: string): number {
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value < 1)
    throw new Error(`${flag}: "${text}" is not a positive integer`);
  return value;
}

/** `10s`, `1500ms`, `2m`, or a bare number of milliseconds. */
export function parseDurationMs(text: string, flag = '--duration'): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`${flag}: "${text}" is not a duration (e.g. 10s, 1500ms, 1m)`);
  const unit = match[2] ?? 'ms';
  const ms = Number(match[1]) * (unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1);
  if (ms < 100) throw new Error(`${flag}: "${text}" is shorter than 100ms`);
  return Math.round(ms);
}
