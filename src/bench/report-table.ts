import { type BenchResults, baselineOf, ratio } from './results.ts';

const COLUMNS = [
  'target',
  'transport',
  'N',
  'deliveries/s',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'max ms',
  'lost',
  'dup',
  'reord',
  'CPU µs/deliv',
  '×raw',
  'KB/conn',
  '×raw ',
  'gen CPU',
] as const;

/** The results as a plain-text table (stdout), with ratios to the raw ceiling. */
export function formatTable(results: BenchResults): string {
  const rows: string[][] = [];
  const failures: string[] = [];
  for (const record of results.scenarios) {
    const r = record.result;
    if (!r) {
      failures.push(
        `${record.target} ${record.transport} N=${record.subscribers}: ${record.error ?? 'no result'}`,
      );
      continue;
    }
    const base = baselineOf(results, record);
    rows.push([
      record.target,
      record.transport,
      String(r.subscribers),
      r.deliveriesPerSec.toLocaleString('en-US'),
      r.latency.p50Ms.toFixed(2),
      r.latency.p90Ms.toFixed(2),
      r.latency.p99Ms.toFixed(2),
      r.latency.maxMs.toFixed(1),
      String(r.lost),
      String(r.duplicated),
      String(r.reordered),
      r.cpuPerDeliveryUs.toFixed(2),
      record.target === 'raw' ? '' : ratio(r.cpuPerDeliveryUs, base?.cpuPerDeliveryUs),
      r.memoryPerConnectionKb.toFixed(1),
      record.target === 'raw' ? '' : ratio(r.memoryPerConnectionKb, base?.memoryPerConnectionKb),
      `${r.generatorCpuPercent}%`,
    ]);
  }
  const widths = COLUMNS.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(COLUMNS), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
  out.push(...failures);
  for (const skip of results.skipped) out.push(`${skip.target}: skipped (${skip.reason})`);
  return `${out.join('\n')}\n`;
}

/** The same table in Markdown (written as results.md), as docs/benchmarks.md quotes it. */
export function formatMarkdownTable(results: BenchResults): string {
  const head =
    '| target | transport | N | deliveries/s | p50 ms | p99 ms | max ms | lost/dup/reord | CPU µs/delivery | ×raw | KB/conn | ×raw | gen CPU |';
  const rows = results.scenarios.map((record) => {
    const r = record.result;
    if (!r)
      return `| ${record.target} | ${record.transport} | ${record.subscribers} | error: ${record.error} |`;
    const base = baselineOf(results, record);
    const isRaw = record.target === 'raw';
    return `| ${[
      record.target,
      record.transport,
      r.subscribers.toLocaleString('en-US'),
      r.deliveriesPerSec.toLocaleString('en-US'),
      r.latency.p50Ms.toFixed(1),
      r.latency.p99Ms.toFixed(1),
      r.latency.maxMs.toFixed(0),
      `${r.lost}/${r.duplicated}/${r.reordered}`,
      r.cpuPerDeliveryUs.toFixed(2),
      isRaw ? '' : ratio(r.cpuPerDeliveryUs, base?.cpuPerDeliveryUs),
      r.memoryPerConnectionKb.toFixed(1),
      isRaw ? '' : ratio(r.memoryPerConnectionKb, base?.memoryPerConnectionKb),
      `${r.generatorCpuPercent}%`,
    ].join(' | ')} |`;
  });
  return `${[head, `|${'---|'.repeat(13)}`, ...rows].join('\n')}\n`;
}
