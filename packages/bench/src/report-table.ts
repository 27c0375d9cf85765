import type { CapacityResult } from './capacity.ts';
import type { ConnectionsResult } from './connections.ts';
import type { DropsResult } from './drops.ts';
import type { FanoutResult } from './fanout.ts';
import type { MaxRateResult } from './max-rate.ts';
import type { ScenarioName } from './options.ts';
import { type AnyResult, type BenchResults, baselineOf, ratio, type ScenarioRecord } from './results.ts';
import type { TargetName } from './targets.ts';

/** A column: its title and the cell of a result (with the raw ceiling's, for ratios). */
interface Column<R> {
  readonly title: string;
  cell(result: R, raw: R | null, record: ScenarioRecord): string;
}

/** One scenario's table: its rows already rendered as cells, plus the runs that failed. */
export interface ScenarioTable {
  readonly scenario: ScenarioName;
  readonly title: string;
  readonly head: readonly string[];
  readonly rows: readonly string[][];
  /** Whether each row lost, duplicated or reordered something (or failed to connect). */
  readonly bad: readonly boolean[];
  readonly failures: readonly string[];
}

const n = (value: number) => value.toLocaleString('en-US');
const ms = (value: number) => value.toFixed(1);
const correctness = (r: FanoutResult) => `${r.lost}/${r.duplicated}/${r.reordered}`;
/** A ratio to raw, left empty on raw's own row. */
const vsRaw = <R>(pick: (r: R) => number): Column<R> => ({
  title: '×raw',
  cell: (r, raw, record) => (record.target === 'raw' || !raw ? '' : ratio(pick(r), pick(raw))),
});

const TARGET: Column<AnyResult> = { title: 'target', cell: (_r, _raw, s) => s.target };
const TRANSPORT: Column<AnyResult> = { title: 'transport', cell: (_r, _raw, s) => s.transport };
const N: Column<AnyResult> = { title: 'N', cell: (_r, _raw, s) => n(s.subscribers) };

/** What every fan-out-shaped run reports: throughput, latency, correctness, CPU, memory. */
const DELIVERY: readonly Column<FanoutResult>[] = [
  { title: 'deliveries/s', cell: (r) => n(r.deliveriesPerSec) },
  { title: 'p50 ms', cell: (r) => ms(r.latency.p50Ms) },
  { title: 'p99 ms', cell: (r) => ms(r.latency.p99Ms) },
  { title: 'max ms', cell: (r) => r.latency.maxMs.toFixed(0) },
  { title: 'lost/dup/reord', cell: correctness },
  { title: 'CPU µs/delivery', cell: (r) => r.cpuPerDeliveryUs.toFixed(2) },
  vsRaw<FanoutResult>((r) => r.cpuPerDeliveryUs),
  { title: 'KB/conn', cell: (r) => r.memoryPerConnectionKb.toFixed(1) },
];

const FANOUT: readonly Column<FanoutResult>[] = [
  TARGET,
  TRANSPORT,
  N,
  ...DELIVERY,
  vsRaw<FanoutResult>((r) => r.memoryPerConnectionKb),
  { title: 'gen CPU', cell: (r) => `${r.generatorCpuPercent}%` },
];

const CHANNELS: readonly Column<FanoutResult>[] = [
  TARGET,
  TRANSPORT,
  { title: 'channels', cell: (r) => n(r.channels) },
  { title: 'msg/s', cell: (r) => n(r.rate) },
  ...DELIVERY,
  { title: 'gen CPU', cell: (r) => `${r.generatorCpuPercent}%` },
];

const PUBLISH: readonly Column<FanoutResult>[] = [
  TARGET,
  { title: 'subscribers', cell: (r) => n(r.subscribers) },
  { title: 'transport', cell: (r, _raw, s) => (r.subscribers === 0 ? '–' : s.transport) },
  { title: 'in flight', cell: (r) => String(r.inFlight) },
  { title: 'publishes/s', cell: (r) => n(r.publishesPerSec) },
  vsRaw<FanoutResult>((r) => r.publishesPerSec),
  { title: 'round trip p50 ms', cell: (r) => ms(r.publishRoundTrip.p50Ms) },
  { title: 'p99 ms', cell: (r) => ms(r.publishRoundTrip.p99Ms) },
  { title: 'CPU µs/publish', cell: (r) => r.cpuPerPublishUs.toFixed(1) },
  vsRaw<FanoutResult>((r) => r.cpuPerPublishUs),
  { title: 'deliveries/s', cell: (r) => (r.subscribers === 0 ? '–' : n(r.deliveriesPerSec)) },
  { title: 'lost/dup/reord', cell: (r) => (r.subscribers === 0 ? '–' : correctness(r)) },
  { title: 'gen CPU', cell: (r) => `${r.generatorCpuPercent}%` },
];

const RECONNECT: readonly Column<FanoutResult>[] = [
  TARGET,
  TRANSPORT,
  N,
  { title: 'all live s', cell: (r) => (r.storm ? (r.storm.allLiveMs / 1000).toFixed(2) : '') },
  vsRaw<FanoutResult>((r) => r.storm?.allLiveMs ?? 0),
  { title: 'reconnects/s', cell: (r) => (r.storm ? n(r.storm.reconnectsPerSec) : '') },
  { title: 'back/failed', cell: (r) => (r.storm ? `${n(r.storm.reconnected)}/${r.storm.failed}` : '') },
  { title: 'msg/s', cell: (r) => n(r.rate) },
  { title: 'lost/dup/reord', cell: correctness },
  { title: 'p99 ms', cell: (r) => ms(r.latency.p99Ms) },
  { title: 'max ms', cell: (r) => r.latency.maxMs.toFixed(0) },
];

const FLOOD: readonly Column<FanoutResult>[] = [
  TARGET,
  TRANSPORT,
  N,
  { title: 'msg/s', cell: (r) => n(r.rate) },
  { title: 'p99 ms no flood', cell: (r) => (r.flood ? ms(r.flood.baselineP99Ms) : '') },
  { title: 'p99 ms flood', cell: (r) => ms(r.latency.p99Ms) },
  { title: 'max ms no flood', cell: (r) => (r.flood ? r.flood.baselineMaxMs.toFixed(0) : '') },
  { title: 'max ms flood', cell: (r) => r.latency.maxMs.toFixed(0) },
  { title: 'flood frames', cell: (r) => (r.flood ? n(r.flood.framesSent) : '') },
  { title: 'cut by server', cell: (r) => (r.flood ? String(r.flood.serverCuts ?? '?') : '') },
  { title: 'lost/dup/reord', cell: correctness },
];

const MAX_RATE: readonly Column<MaxRateResult>[] = [
  TARGET,
  TRANSPORT,
  N,
  { title: 'max msg/s', cell: (r) => n(r.lastGoodRate) },
  { title: 'deliveries/s', cell: (r) => n(r.deliveriesPerSec) },
  vsRaw<MaxRateResult>((r) => r.deliveriesPerSec),
  { title: 'p99 ms', cell: (r) => ms(r.p99Ms) },
  { title: 'CPU µs/delivery', cell: (r) => r.cpuPerDeliveryUs.toFixed(2) },
  { title: 'stopped', cell: (r) => r.stoppedBy },
];

const IDLE: readonly Column<ConnectionsResult>[] = [
  TARGET,
  TRANSPORT,
  N,
  { title: 'KB/conn', cell: (r) => r.memoryPerConnectionKb.toFixed(1) },
  vsRaw<ConnectionsResult>((r) => r.memoryPerConnectionKb),
  { title: 'RSS idle MB', cell: (r) => (r.rssIdleKb / 1024).toFixed(1) },
  { title: 'RSS connected MB', cell: (r) => (r.rssConnectedKb / 1024).toFixed(1) },
  { title: 'settled after ms', cell: (r) => String(r.settleMs) },
  { title: 'failed', cell: (r) => String(r.connectFailed) },
];

const CONNECT: readonly Column<ConnectionsResult>[] = [
  TARGET,
  TRANSPORT,
  N,
  { title: 'connections/s', cell: (r) => n(r.connectionsPerSec) },
  vsRaw<ConnectionsResult>((r) => r.connectionsPerSec),
  { title: 'all live s', cell: (r) => (r.connectMs / 1000).toFixed(2) },
  { title: 'CPU µs/conn', cell: (r) => r.cpuPerConnectionUs.toFixed(1) },
  vsRaw<ConnectionsResult>((r) => r.cpuPerConnectionUs),
  { title: 'failed', cell: (r) => String(r.connectFailed) },
];

const DROPS: readonly Column<DropsResult>[] = [
  TARGET,
  TRANSPORT,
  N,
  { title: 'delivered %', cell: (r) => r.deliveredPercent.toFixed(3) },
  { title: 'lost/dup/reord', cell: (r) => `${r.lost}/${r.duplicated}/${r.reordered}` },
  { title: 'gaps', cell: (r) => String(r.gaps) },
  { title: 'replay p50 ms', cell: (r) => r.replay.p50Ms.toFixed(0) },
  { title: 'replay p99 ms', cell: (r) => r.replay.p99Ms.toFixed(0) },
  { title: 'live p99 ms', cell: (r) => r.live.p99Ms.toFixed(0) },
  { title: 'away p99 ms', cell: (r) => r.away.p99Ms.toFixed(0) },
  {
    title: 'back after network p50/p99 ms',
    cell: (r) => `${r.back.p50Ms.toFixed(0)}/${r.back.p99Ms.toFixed(0)}`,
  },
  { title: 'drops', cell: (r) => n(r.drops) },
  { title: 'server conns max', cell: (r) => n(r.serverConnectionsMax) },
  { title: '×clients', cell: (r) => r.serverConnectionsRatio.toFixed(2) },
  { title: 'server CPU % mean/max', cell: (r) => `${r.serverCpu.meanPercent}/${r.serverCpu.maxPercent}` },
  {
    title: 'server wait % mean/max',
    cell: (r) => `${r.serverRunQueueWait.meanPercent}/${r.serverRunQueueWait.maxPercent}`,
  },
  {
    title: 'gen CPU % per child mean/max',
    cell: (r) => `${r.generatorCpu.meanPercent}/${r.generatorCpu.maxPercent} ×${r.generatorChildren}`,
  },
  {
    title: 'gen loop delay p99/max ms',
    cell: (r) => `${r.generatorLoopDelayP99Ms}/${r.generatorLoopDelayMaxMs}`,
  },
];

const CAPACITY: readonly Column<CapacityResult>[] = [
  TARGET,
  { title: 'mix %', cell: (r) => r.mix },
  N,
  { title: 'procs', cell: (r) => String(r.workers) },
  { title: 'held s', cell: (r) => (r.holdMs / 1000).toFixed(0) },
  { title: 'dropped', cell: (r) => String(r.disconnected) },
  { title: 'server open min', cell: (r) => (r.serverOpenMin === null ? '–' : n(r.serverOpenMin)) },
  { title: 'KB/conn', cell: (r) => r.memoryPerConnectionKb.toFixed(1) },
  vsRaw<CapacityResult>((r) => r.memoryPerConnectionKb),
  {
    title: 'KB/conn by transport',
    cell: (r) => r.byTransport.map((t) => `${t.transport} ${t.memoryPerConnectionKb.toFixed(1)}`).join(', '),
  },
  { title: 'KB/conn held', cell: (r) => r.memoryPerConnectionHeldKb.toFixed(1) },
  { title: 'RSS MB', cell: (r) => (r.rssHeldKb / 1024).toFixed(0) },
  { title: 'delivered %', cell: (r) => r.deliveredPercent.toFixed(2) },
  { title: '100 % in ms', cell: (r) => (r.allDeliveredMs === null ? '–' : r.allDeliveredMs.toFixed(0)) },
  { title: 'p50 ms', cell: (r) => ms(r.latency.p50Ms) },
  { title: 'p99 ms', cell: (r) => ms(r.latency.p99Ms) },
];

const TITLES: Readonly<Record<ScenarioName, string>> = {
  fanout: 'Fan-out: N subscribers of one channel',
  'max-rate': 'Max sustained rate (doubled, then bisected, until p99 > 1 s, a loss, or the publisher behind)',
  idle: 'Idle memory per connection (RSS after settling)',
  channels: 'N channels with one subscriber each',
  publish: 'HTTP publish API throughput',
  reconnect: 'Reconnect storm: every subscriber dropped at once, back with its cursor',
  connect: 'Connection set-up rate (connected and subscribed)',
  flood: 'One abusive WebSocket flooding frames: healthy subscribers without and with it',
  drops: 'Network drops: SDK clients cut every ~15 s for ~2 s, resumed by the SDK',
  'drops-silent': 'Network drops, server half left open and silent: the same, plus dead peers on the server',
  capacity: 'Capacity: N idle connections in a transport mix held with heartbeats, then one publish to all',
};

function columnsOf(scenario: ScenarioName): readonly Column<never>[] {
  switch (scenario) {
    case 'fanout':
      return FANOUT;
    case 'channels':
      return CHANNELS;
    case 'publish':
      return PUBLISH;
    case 'reconnect':
      return RECONNECT;
    case 'max-rate':
      return MAX_RATE;
    case 'idle':
      return IDLE;
    case 'connect':
      return CONNECT;
    case 'flood':
      return FLOOD;
    case 'drops':
    case 'drops-silent':
      return DROPS;
    case 'capacity':
      return CAPACITY;
  }
}

/** Every scenario that ran, as a table with ratios to the raw ceiling. */
export function scenarioTables(results: BenchResults): ScenarioTable[] {
  const order = [...new Set(results.scenarios.map((s) => s.scenario))];
  return order.map((scenario) => {
    const columns = columnsOf(scenario) as readonly Column<AnyResult>[];
    const rows: string[][] = [];
    const bad: boolean[] = [];
    const failures: string[] = [];
    for (const record of results.scenarios.filter((s) => s.scenario === scenario)) {
      const result = record.result;
      if (!result) {
        failures.push(
          `${record.target} ${record.transport} N=${record.subscribers}: ${record.error ?? 'no result'}`,
        );
        continue;
      }
      const raw = baselineOf(results, record);
      rows.push(columns.map((column) => column.cell(result, raw, record)));
      bad.push(isBad(result));
    }
    return { scenario, title: TITLES[scenario], head: columns.map((c) => c.title), rows, bad, failures };
  });
}

function isBad(result: AnyResult): boolean {
  if ('lost' in result) return result.lost + result.duplicated + result.reordered + result.connectFailed > 0;
  if ('connectFailed' in result) return result.connectFailed > 0;
  return false;
}

/** The results as plain-text tables (stdout), one per scenario. */
export function formatTable(results: BenchResults): string {
  const out: string[] = [];
  for (const table of scenarioTables(results)) {
    const widths = table.head.map((title, i) =>
      Math.max(title.length, ...table.rows.map((row) => (row[i] ?? '').length)),
    );
    const line = (cells: readonly string[]) =>
      cells
        .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd();
    out.push(`${table.title}`, '', line(table.head), line(widths.map((w) => '-'.repeat(w))));
    out.push(...table.rows.map(line), ...table.failures, '');
  }
  for (const skip of results.skipped) out.push(`${skip.target}: skipped (${skip.reason})`);
  out.push(pushwireSettings(results));
  if (results.options.latencyFrom === 'schedule') out.push(LATENCY_FROM_SCHEDULE);
  return `${out.join('\n')}\n`;
}

/** Said under the tables of a run with `--latency-from schedule`. */
const LATENCY_FROM_SCHEDULE =
  'latency: from when each message was due, not from its publish request (--latency-from schedule)';

/** Which settings Pushwire ran with: a user's defaults unless `--pushwire-args` tuned them. */
export function pushwireSettings(results: BenchResults): string {
  const args = results.options.pushwireArgs ?? [];
  const nodeArgs = results.options.nodeArgs ?? [];
  const pushwire =
    args.length === 0
      ? 'pushwire: default settings (pushwire serve --api-key KEY)'
      : `pushwire: tuned (pushwire serve --api-key KEY ${args.join(' ')})`;
  return nodeArgs.length === 0 ? pushwire : `${pushwire}; every Node target: node ${nodeArgs.join(' ')}`;
}

/** The same tables in Markdown (written as results.md), as docs/benchmarks.md quotes them. */
export function formatMarkdownTable(results: BenchResults): string {
  const out: string[] = [];
  for (const table of scenarioTables(results)) {
    out.push(`### ${table.title}`, '');
    out.push(`| ${table.head.join(' | ')} |`, `|${'---|'.repeat(table.head.length)}`);
    out.push(...table.rows.map((row) => `| ${row.join(' | ')} |`));
    out.push(...table.failures.map((failure) => `\nerror: ${failure}`), '');
  }
  out.push(pushwireSettings(results), '');
  if (results.options.latencyFrom === 'schedule') out.push(LATENCY_FROM_SCHEDULE, '');
  return `${out.join('\n')}\n`;
}

/** The headline's targets, in its column order. */
const SUMMARY_TARGETS: readonly TargetName[] = ['pushwire', 'raw', 'nchan', 'socketio'];
const SUMMARY_NAMES: Readonly<Record<TargetName, string>> = {
  pushwire: 'Pushwire',
  raw: 'raw',
  nchan: 'Nchan',
  socketio: 'Socket.IO',
};

/** One headline metric: which scenario it comes from and how a result reads in it. */
interface SummaryMetric {
  readonly title: string;
  readonly scenario: 'fanout' | 'idle' | 'connect';
  cell(result: FanoutResult & ConnectionsResult): string;
}

const SUMMARY_METRICS: readonly SummaryMetric[] = [
  { title: 'CPU µs/delivery', scenario: 'fanout', cell: (r) => r.cpuPerDeliveryUs.toFixed(2) },
  { title: 'p99 ms', scenario: 'fanout', cell: (r) => r.latency.p99Ms.toFixed(0) },
  {
    title: 'lost',
    scenario: 'fanout',
    cell: (r) => (r.lost === 0 ? '0' : `${((100 * r.lost) / Math.max(1, r.expected)).toFixed(2)} %`),
  },
  { title: 'idle KB/conn', scenario: 'idle', cell: (r) => r.memoryPerConnectionKb.toFixed(1) },
  { title: 'connections/s', scenario: 'connect', cell: (r) => n(r.connectionsPerSec) },
];

/**
 * The one table docs/benchmarks.md opens with: a row per transport, a column per metric, each
 * cell the targets' values side by side (Pushwire / raw / Nchan / Socket.IO, `–` where a
 * target lacks the transport or did not run). Per metric, the first N its scenario ran with.
 */
export function formatSummaryTable(results: BenchResults): string {
  const targets = SUMMARY_TARGETS.filter((target) => results.options.targets.includes(target));
  const metrics = SUMMARY_METRICS.filter((metric) =>
    results.scenarios.some((s) => s.scenario === metric.scenario),
  );
  if (targets.length === 0 || metrics.length === 0) return '';
  const firstN = (scenario: ScenarioName) =>
    results.scenarios.find((s) => s.scenario === scenario)?.subscribers;
  const order = targets.map((target) => SUMMARY_NAMES[target]).join(' / ');
  const head = [
    'transport',
    ...metrics.map((metric) => `${metric.title} (N = ${n(firstN(metric.scenario) ?? 0)})`),
  ];
  const transports = results.options.transports.filter((transport) =>
    results.scenarios.some(
      (s) => s.transport === transport && metrics.some((m) => m.scenario === s.scenario),
    ),
  );
  const rows = transports.map((transport) => [
    TRANSPORT_NAMES[transport],
    ...metrics.map((metric) =>
      targets
        .map((target) => {
          const record = results.scenarios.find(
            (s) =>
              s.scenario === metric.scenario &&
              s.target === target &&
              s.transport === transport &&
              s.subscribers === firstN(metric.scenario),
          );
          const result = record?.result as (FanoutResult & ConnectionsResult) | null | undefined;
          return result ? metric.cell(result) : '–';
        })
        .join(' / '),
    ),
  ]);
  const lines = [
    `Each cell: ${order}. ${pushwireSettings(results)}.`,
    '',
    `| ${head.join(' | ')} |`,
    `|${'---|'.repeat(head.length)}`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
  return `${lines.join('\n')}\n`;
}

const TRANSPORT_NAMES: Readonly<Record<string, string>> = {
  ws: 'WebSocket',
  sse: 'SSE',
  poll: 'long poll',
  stream: 'stream',
};
