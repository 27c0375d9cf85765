import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type FanoutResult, runFanout } from './fanout.ts';
import { type BenchOptions, parseBenchArgs, USAGE } from './options.ts';
import { ProgressLine } from './progress.ts';
import { renderHtml } from './report-html.ts';
import { formatMarkdownTable, formatTable } from './report-table.ts';
import { allCorrect, type BenchResults, machineInfo, medianResult, type ScenarioRecord } from './results.ts';
import { TARGETS, type TargetInfo, type TargetName } from './targets.ts';
import type { TransportName } from './wire.ts';

export type { BenchOptions } from './options.ts';
export type { BenchResults, ScenarioRecord } from './results.ts';

/**
 * `pushwire bench` and `npm run bench`: runs the scenarios `argv` selects, prints progress on
 * stderr and the table on stdout, writes results.json and report.html. Resolves to the exit
 * code: 0 when every scenario ran and lost, duplicated and reordered nothing.
 */
export async function runBench(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchArgs(argv);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const results = await runScenarios(options);
  const outDir = resolve(options.outDir ?? join('bench', 'results', results.startedAt.replace(/[:.]/g, '-')));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, 'report.html'), renderHtml(results));
  writeFileSync(join(outDir, 'results.md'), formatMarkdownTable(results));
  process.stdout.write(formatTable(results));
  process.stderr.write(`results: ${join(outDir, 'results.json')}\nreport:  ${join(outDir, 'report.html')}\n`);
  return allCorrect(results) ? 0 : 1;
}

async function runScenarios(options: BenchOptions): Promise<BenchResults> {
  const startedAt = new Date().toISOString();
  const skipped: { target: TargetName; reason: string }[] = [];
  const targets: TargetInfo[] = [];
  for (const name of options.targets) {
    const reason = TARGETS[name].unavailable();
    if (reason) skipped.push({ target: name, reason });
    else targets.push(TARGETS[name]);
  }
  const scenarios: ScenarioRecord[] = [];
  let block = 0;
  // Targets side by side for each N and transport, so that they share the machine's state.
  for (const subscribers of options.subscribers) {
    for (const transport of options.transports) {
      for (const target of targets) {
        if (!target.transports.includes(transport)) continue;
        const runs: FanoutResult[] = [];
        let error: string | null = null;
        for (let run = 0; run < options.repeat && error === null; run++) {
          const label = `${target.name}/${transport} N=${subscribers}${options.repeat > 1 ? ` run ${run + 1}` : ''}`;
          try {
            runs.push(await runOnce(target, transport, subscribers, options, block++, label));
          } catch (caught) {
            error = (caught as Error).message;
            process.stderr.write(`${label}: ${error}\n`);
          }
        }
        scenarios.push({
          scenario: 'fanout',
          target: target.name,
          transport,
          subscribers,
          runs,
          result: medianResult(runs),
          error,
        });
      }
    }
  }
  return {
    version: 1,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    options,
    skipped,
    scenarios,
  };
}

/** Starts the target fresh, runs one fan-out on it, and stops it by PID. */
async function runOnce(
  target: TargetInfo,
  transport: TransportName,
  subscribers: number,
  options: BenchOptions,
  block: number,
  label: string,
): Promise<FanoutResult> {
  const progress = new ProgressLine(label);
  progress.update('start', 0, '');
  const running = await target.start();
  try {
    const result = await runFanout(
      target,
      running,
      transport,
      {
        subscribers,
        rate: options.rate,
        durationMs: options.durationMs,
        payloadBytes: options.payloadBytes,
        block,
      },
      progress,
    );
    progress.done(
      `${result.deliveriesPerSec.toLocaleString('en-US')} deliveries/s, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, lost ${result.lost}, dup ${result.duplicated}, reordered ${result.reordered}`,
    );
    return result;
  } finally {
    await running.stop();
  }
}
