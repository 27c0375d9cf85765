/** `pushwire bench`: wired to the benchmark harness. */
export async function runBenchCommand(_argv: string[]): Promise<number> {
  console.error('pushwire bench: not available yet');
  return 1;
}
