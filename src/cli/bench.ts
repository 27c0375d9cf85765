import { runBench } from '../bench/index.ts';

/** `pushwire bench`: the benchmark harness (see docs/benchmarks.md). */
export function runBenchCommand(argv: string[]): Promise<number> {
  return runBench(argv);
}
