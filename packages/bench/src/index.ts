import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type BenchOptions, parseBenchArgs, USAGE } from './options.ts';
import { renderHtml } from './report-html.ts';
import { formatMarkdownTable, formatSummaryTable, formatTable } from './report-table.ts';
import {
  type AnyResult,
  allCorrect,
  type BenchResults,
  machineInfo,
  medianResult,
  type ScenarioRecord,
} from './results.ts';
import { planCases, runCase, runOrder, stopRunningTargets } from './scenarios.ts';
import {
  PACKAGE_ROOT,
  profileNodeTargets,
  TARGETS,
  type TargetInfo,
  type TargetName,
  tuneNodeTargets,
  tunePushwire,
} from './targets.ts';

export type { BenchOptions } from './options.ts';
export type { BenchResults, ScenarioRecord } from './results.ts';

/**
 * `pushwire bench` and `npm run bench`: runs the scenarios `argv` selects, prints progress on
 * stderr and the tables on stdout, writes results.json, results.md and report.html. Resolves to
 * the exit code: 0 when every scenario ran and lost, duplicated and reordered nothing.
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
  stopTargetsOnSignal();
  tunePushwire(options.pushwireArgs);
  tuneNodeTargets(options.nodeArgs);
  if (options.profileDir) {
    mkdirSync(resolve(options.profileDir), { recursive: true });
    profileNodeTargets(resolve(options.profileDir));
  }
  const results = await runScenarios(options);
  const outDir = resolve(
    options.outDir ?? join(PACKAGE_ROOT, 'results', results.startedAt.replace(/[:.]/g, '-')),
  );
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(outDir, 'report.html'), renderHtml(results));
  writeFileSync(join(outDir, 'results.md'), formatMarkdownTable(results));
  const summary = formatSummaryTable(results);
  if (summary !== '') {
    writeFileSync(join(outDir, 'summary.md'), summary);
    process.stdout.write(`Summary\n\n${summary}\n`);
  }
  process.stdout.write(formatTable(results));
  process.stderr.write(`results: ${join(outDir, 'results.json')}\nreport:  ${join(outDir, 'report.html')}\n`);
  return allCorrect(results) ? 0 : 1;
}

async function runScenarios(options: BenchOptions): Promise<BenchResults> {
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const skipped: { target: TargetName; reason: string }[] = [];
  const targets: TargetInfo[] = [];
  for (const name of options.targets) {
    const reason = TARGETS[name].unavailable();
    if (reason) skipped.push({ target: name, reason });
    else targets.push(TARGETS[name]);
  }
  const scenarios: ScenarioRecord[] = [];
  // Runs within a minute of each other would otherwise reuse the last one's source addresses,
  // whose ports are still in TIME_WAIT (connects then fail with EADDRINUSE): start where the
  // clock says, a new block every 10 s.
  let block = Math.floor(Date.now() / 10_000);
  const nextBlock = () => block++;
  for (const scenario of options.scenarios) {
    const cases = planCases(scenario, targets, options);
    const runs = cases.map((): AnyResult[] => []);
    const errors = cases.map((): string | null => null);
    for (const { index, run } of runOrder(cases.length, options.repeat)) {
      const item = cases[index]!;
      if (errors[index] !== null) continue;
      const transport =
        scenario === 'capacity'
          ? options.mix.map((s) => `${s.transport}${s.percent}`).join('+')
          : item.transport;
      const label = `${scenario} ${item.target.name}/${transport} N=${item.subscribers}${options.repeat > 1 ? ` run ${run + 1}` : ''}`;
      try {
        runs[index]!.push(await runCase(item, options, nextBlock, label));
      } catch (caught) {
        errors[index] = (caught as Error).message;
        process.stderr.write(`${label}: ${errors[index]}\n`);
      }
    }
    cases.forEach((item, index) => {
      scenarios.push({
        scenario,
        target: item.target.name,
        transport: item.transport,
        subscribers: item.subscribers,
        runs: runs[index]!,
        result: medianResult(runs[index]!),
        error: errors[index] ?? null,
      } as ScenarioRecord);
    });
  }
  return {
    version: 2,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    options,
    skipped,
    scenarios,
  };
}

/**
 * Stopped by a signal (a `kill` of the runner, which its targets don't get), the runner stops
 * the target it started before it exits, so no server is left behind.
 */
function stopTargetsOnSignal(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}: stopping the running target\n`);
      stopRunningTargets().then(() => process.exit(130));
    });
  }
}
