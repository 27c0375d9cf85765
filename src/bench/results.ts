import { cpus, freemem, totalmem } from 'node:os';
import type { FanoutResult } from './fanout.ts';
import type { BenchOptions } from './options.ts';
import type { TargetName } from './targets.ts';
import type { TransportName } from './wire.ts';

/** One scenario on one target and transport: every run, and the medians the report shows. */
export interface ScenarioRecord {
  readonly scenario: 'fanout';
  readonly target: TargetName;
  readonly transport: TransportName;
  readonly subscribers: number;
  readonly runs: FanoutResult[];
  /** Per-metric medians over the runs (lost, duplicated, reordered: the worst run). */
  readonly result: FanoutResult | null;
  readonly error: string | null;
}

export interface BenchResults {
  readonly version: 1;
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
export function medianResult(runs: readonly FanoutResult[]): FanoutResult | null {
  if (runs.length === 0) return null;
  if (runs.length === 1) return runs[0]!;
  const merged = combine(runs as unknown as Record<string, unknown>[]);
  return merged as unknown as FanoutResult;
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
    } else if (sample && typeof sample === 'object' && !Array.isArray(sample) && field !== 'closeReasons') {
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

/** The raw ceiling's result for the same transport and N, the baseline of every ratio. */
export function baselineOf(results: BenchResults, record: ScenarioRecord): FanoutResult | null {
  const raw = results.scenarios.find(
    (s) => s.target === 'raw' && s.transport === record.transport && s.subscribers === record.subscribers,
  );
  return raw?.result ?? null;
}

export function ratio(value: number, base: number | undefined): string {
  if (base === undefined || base <= 0 || !Number.isFinite(value)) return '';
  return `${(value / base).toFixed(2)}×`;
}

/** True when every scenario ran and lost, duplicated and reordered nothing. */
export function allCorrect(results: BenchResults): boolean {
  return results.scenarios.every(
    (s) =>
      s.error === null &&
      s.result !== null &&
      s.result.lost === 0 &&
      s.result.duplicated === 0 &&
      s.result.reordered === 0 &&
      s.result.connectFailed === 0,
  );
}
