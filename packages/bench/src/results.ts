import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { CapacityResult } from './capacity.ts';
import type { ConnectionsResult } from './connections.ts';
import type { DropsResult } from './drops.ts';
import type { FanoutResult } from './fanout.ts';
import type { MaxRateResult } from './max-rate.ts';
import type { BenchOptions, ScenarioName } from './options.ts';
import type { TargetName } from './targets.ts';
import type { TransportName } from './wire.ts';

/** One scenario on one target, transport and N: every run, and the medians the report shows. */
interface RecordOf<S extends ScenarioName, R> {
  readonly scenario: S;
  readonly target: TargetName;
  readonly transport: TransportName;
  readonly subscribers: number;
  readonly runs: R[];
  /** Per-metric medians over the runs (lost, duplicated, reordered: the worst run). */
  readonly result: R | null;
  readonly error: string | null;
}

export type FanoutRecord = RecordOf<'fanout' | 'channels' | 'publish' | 'reconnect' | 'flood', FanoutResult>;
export type MaxRateRecord = RecordOf<'max-rate', MaxRateResult>;
export type ConnectionsRecord = RecordOf<'idle' | 'connect', ConnectionsResult>;
export type DropsRecord = RecordOf<'drops' | 'drops-silent', DropsResult>;
export type CapacityRecord = RecordOf<'capacity', CapacityResult>;
export type ScenarioRecord = FanoutRecord | MaxRateRecord | ConnectionsRecord | DropsRecord | CapacityRecord;
export type AnyResult = FanoutResult | MaxRateResult | ConnectionsResult | DropsResult | CapacityResult;

export interface BenchResults {
  readonly version: 2;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineInfo;
  readonly options: BenchOptions;
  readonly skipped: { target: TargetName; reason: string }[];
  readonly scenarios: ScenarioRecord[];
}

export interface MachineInfo {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly freeMemoryGb: number;
  readonly node: string;
  readonly platform: string;
  /** 1-, 5- and 15-minute load averages when the run began: the machine's other work. */
  readonly loadAverage: readonly number[];
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    freeMemoryGb: Math.round(freemem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverage: loadavg().map((load) => Math.round(load * 100) / 100),
  };
}

const WORST_OF = new Set([
  'lost',
  'duplicated',
  'reordered',
  'disconnected',
  'connectFailed',
  'publishFailed',
]);

/** Medians of each number over the runs; correctness counts take the worst run. */
export function medianResult<R extends AnyResult>(runs: readonly R[]): R | null {
  if (runs.length === 0) return null;
  if (runs.length === 1) return runs[0]!;
  const merged = combine(runs as unknown as Record<string, unknown>[]);
  return merged as unknown as R;
}

function combine(values: readonly Record<string, unknown>[]): Record<string, unknown> {
  const first = values[0]!;
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(first)) {
    const column = values.map((v) => v[field]);
    const sample = column[0];
    if (typeof sample === 'number') {
      const numbers = column as number[];
      out[field] = WORST_OF.has(field) ? Math.max(...numbers) : median(numbers);
    } else if (
      sample &&
      typeof sample === 'object' &&
      !Array.isArray(sample) &&
      field !== 'closeReasons' &&
      column.every((value) => value !== null)
    ) {
      out[field] = combine(column as Record<string, unknown>[]);
    } else out[field] = sample;
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The raw ceiling's result for the same scenario, transport and N: the baseline of ratios. */
export function baselineOf<T extends ScenarioRecord>(results: BenchResults, record: T): T['result'] {
  const raw = results.scenarios.find(
    (s) =>
      s.scenario === record.scenario &&
      s.target === 'raw' &&
      s.transport === record.transport &&
      s.subscribers === record.subscribers,
  );
  return (raw?.result ?? null) as T['result'];
}

export function ratio(value: number, base: number | undefined): string {
  if (base === undefined || base <= 0 || !Number.isFinite(value)) return '';
  return `${(value / base).toFixed(2)}×`;
}

/**
 * True when every scenario ran, every subscriber connected, and nothing was lost, duplicated
 * or reordered (max-rate: ran; a loss there ends the search and is the measurement).
 */
export function allCorrect(results: BenchResults): boolean {
  return results.scenarios.every((s) => s.error === null && s.result !== null && correct(s));
}

function correct(record: ScenarioRecord): boolean {
  switch (record.scenario) {
    case 'max-rate':
      return record.result !== null;
    case 'idle':
    case 'connect':
      return record.result !== null && record.result.connectFailed === 0;
    case 'capacity': {
      const r = record.result;
      return (
        r !== null &&
        r.connectFailed === 0 &&
        r.disconnected === 0 &&
        r.publishFailed === 0 &&
        r.lost === 0 &&
        r.duplicated === 0
      );
    }
    case 'drops':
    case 'drops-silent': {
      const r = record.result;
      return r !== null && r.lost === 0 && r.duplicated === 0 && r.reordered === 0 && r.connectFailed === 0;
    }
    default: {
      const r = record.result;
      return (
        r !== null &&
        r.lost === 0 &&
        r.duplicated === 0 &&
        r.reordered === 0 &&
        r.connectFailed === 0 &&
        (r.storm === null || r.storm.failed === 0)
      );
    }
  }
}
