// Preloaded (`--import`) into a server under `--expose-gc` by connect-memory.ts. Each SIGUSR2
// is one step: the first collects garbage twice and notes the heap; the second notes the heap
// again before any collection (what the connections allocated, when no GC ran between the
// two steps) and after two full collections (what they keep alive). Prints one JSON line.
import { PerformanceObserver } from 'node:perf_hooks';

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const collect = () => {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};
let mark = null;
process.on('SIGUSR2', () => {
  if (mark === null) {
    const heapUsed = collect();
    // The observer hears of our own collections a moment later: count from after them.
    setTimeout(() => {
      mark = { heapUsed, gcs };
      process.stdout.write('heap-probe marked\n');
    }, 50);
    return;
  }
  const grown = process.memoryUsage().heapUsed - mark.heapUsed;
  const gcsBetween = gcs - mark.gcs;
  const live = collect() - mark.heapUsed;
  process.stdout.write(`heap-probe ${JSON.stringify({ grown, gcsBetween, live })}\n`);
  mark = null;
});
