/**
 * The benchmark harness is a workspace package of the repository (packages/bench), not part of
 * the published package. A variable specifier keeps the build and the type-check of the
 * published package free of it: the CLI only needs the one entry point declared below.
 */
const BENCH_PACKAGE = '@pushwire/bench';

const NOT_INSTALLED =
  'pushwire bench: the benchmark ships with the repository, not with the package: ' +
  'clone it and run npm run bench (see docs/benchmarks.md)';

interface BenchEntry {
  runBench(argv: readonly string[]): Promise<number>;
}

/** `pushwire bench`: the benchmark harness (see docs/benchmarks.md), where it is installed. */
export async function runBenchCommand(argv: string[]): Promise<number> {
  const bench = await loadBench();
  if (!bench) {
    console.error(NOT_INSTALLED);
    return 1;
  }
  return bench.runBench(argv);
}

async function loadBench(): Promise<BenchEntry | null> {
  try {
    return (await import(BENCH_PACKAGE)) as BenchEntry;
  } catch (error) {
    if (isBenchMissing(error)) return null;
    throw error;
  }
}

/** Only the bench package itself missing; a dependency missing inside it is a real error. */
function isBenchMissing(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
    error.message.includes(`'${BENCH_PACKAGE}'`)
  );
}
