import type { FanoutResult } from './fanout.ts';

/** One step of the max-rate search: a fresh fan-out at `rate`. */
export interface MaxRateStep {
  readonly rate: number;
  readonly deliveriesPerSec: number;
  readonly p99Ms: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly reordered: number;
  readonly disconnected: number;
  readonly publishLagMs: number;
  readonly cpuPerDeliveryUs: number;
  /** Why this step is not sustained, or null when it is. */
  readonly failure: string | null;
}

/** Max sustained rate at N: the last rate of the doubling that held (0 if even the first failed). */
export interface MaxRateResult {
  readonly subscribers: number;
  readonly startRate: number;
  readonly lastGoodRate: number;
  /** Of the last good step (0 when none held). */
  readonly deliveriesPerSec: number;
  readonly p99Ms: number;
  readonly cpuPerDeliveryUs: number;
  /** What ended the search: the failure of the first step that did not hold. */
  readonly stoppedBy: string;
  readonly steps: MaxRateStep[];
}

/** p99 latency above this is not "sustained". */
export const MAX_P99_MS = 1000;
/** A publisher this far behind its schedule means the target could not take the rate. */
export const MAX_PUBLISH_LAG_MS = 1000;
/** Doublings at most: 100 msg/s × 2^11 = 204,800 msg/s is past any target on one machine. */
export const MAX_STEPS = 12;

/** Whether a step held, and if not why (the first rule broken). */
export function stepFailure(result: FanoutResult): string | null {
  if (result.connectFailed > 0) return `${result.connectFailed} subscribers failed to connect`;
  if (result.lost + result.duplicated + result.reordered > 0) {
    return `lost ${result.lost}, duplicated ${result.duplicated}, reordered ${result.reordered}`;
  }
  if (result.disconnected > 0) return `${result.disconnected} subscribers disconnected`;
  if (result.latency.p99Ms > MAX_P99_MS) return `p99 ${result.latency.p99Ms} ms > ${MAX_P99_MS} ms`;
  if (result.publishLagMs > MAX_PUBLISH_LAG_MS) {
    return `publisher ${result.publishLagMs} ms behind schedule (> ${MAX_PUBLISH_LAG_MS} ms)`;
  }
  return null;
}

/**
 * A step that failed on latency or publisher lag alone is run this many times in all and holds
 * when most of its runs held: on a shared machine one run's p99 is noise. A loss, a
 * duplicate, a reorder, a disconnect or an error ends the search at once.
 */
export const RUNS_PER_DOUBTFUL_STEP = 3;

/**
 * Bisections between the last rate that held and the first that did not, after the doubling:
 * with two, the maximum is known to within a quarter of the last good rate instead of a factor
 * of two. One doubling apart can be a few per cent of deliveries/s at the edge.
 */
export const REFINE_STEPS = 2;

/**
 * Doubles the rate from `startRate` and runs `step` (a fresh target each time) until a step
 * does not hold or MAX_STEPS ran, then bisects REFINE_STEPS times between the last rate that
 * held and the first that did not; `step` throwing fails that step. Every run is in `steps`.
 */
export async function searchMaxRate(
  subscribers: number,
  startRate: number,
  step: (rate: number) => Promise<FanoutResult>,
): Promise<MaxRateResult> {
  const steps: MaxRateStep[] = [];
  let good: MaxRateStep | null = null;
  let failed: { rate: number; why: string } | null = null;
  for (let i = 0, rate = startRate; i < MAX_STEPS && !failed; i++, rate *= 2) {
    const outcome = await holdsAt(rate, step, steps);
    if (outcome.held) good = outcome.held;
    else failed = { rate, why: outcome.why };
  }
  for (let i = 0; i < REFINE_STEPS && good && failed; i++) {
    const rate = Math.round((good.rate + failed.rate) / 2);
    if (rate === good.rate || rate === failed.rate) break;
    const outcome = await holdsAt(rate, step, steps);
    if (outcome.held) good = outcome.held;
    else failed = { rate, why: outcome.why };
  }
  return {
    subscribers,
    startRate,
    lastGoodRate: good?.rate ?? 0,
    deliveriesPerSec: good?.deliveriesPerSec ?? 0,
    p99Ms: good?.p99Ms ?? 0,
    cpuPerDeliveryUs: good?.cpuPerDeliveryUs ?? 0,
    stoppedBy: failed ? `at ${failed.rate} msg/s: ${failed.why}` : `${MAX_STEPS} steps held`,
    steps,
  };
}

/**
 * Runs `rate` once, or up to RUNS_PER_DOUBTFUL_STEP times when it missed on latency alone;
 * every run goes into `steps`. `held` is the run that made it hold (a majority of runs).
 */
async function holdsAt(
  rate: number,
  step: (rate: number) => Promise<FanoutResult>,
  steps: MaxRateStep[],
): Promise<{ held: MaxRateStep | null; why: string }> {
  const first = await runStep(rate, step);
  steps.push(first);
  if (first.failure === null) return { held: first, why: '' };
  if (!doubtful(first)) return { held: null, why: first.failure };
  const needed = Math.floor(RUNS_PER_DOUBTFUL_STEP / 2) + 1;
  let runs = 1;
  let holds = 0;
  for (let run = 1; run < RUNS_PER_DOUBTFUL_STEP; run++) {
    const again = await runStep(rate, step);
    steps.push(again);
    runs += 1;
    if (again.failure === null) {
      holds += 1;
      if (holds >= needed) return { held: again, why: '' };
    } else if (!doubtful(again) || RUNS_PER_DOUBTFUL_STEP - 1 - run < needed - holds) {
      break; // a hard failure, or too few runs left for a majority
    }
  }
  return { held: null, why: `${first.failure} (held in ${holds} of ${runs} runs)` };
}

/** Failed on latency or publisher lag alone, which a busy machine can cause by itself. */
function doubtful(step: MaxRateStep): boolean {
  return (
    step.failure !== null &&
    !step.failure.startsWith('error:') &&
    step.lost + step.duplicated + step.reordered + step.disconnected === 0 &&
    !/failed to connect/.test(step.failure)
  );
}

async function runStep(rate: number, step: (rate: number) => Promise<FanoutResult>): Promise<MaxRateStep> {
  try {
    const result = await step(rate);
    return {
      rate,
      deliveriesPerSec: result.deliveriesPerSec,
      p99Ms: result.latency.p99Ms,
      lost: result.lost,
      duplicated: result.duplicated,
      reordered: result.reordered,
      disconnected: result.disconnected,
      publishLagMs: result.publishLagMs,
      cpuPerDeliveryUs: result.cpuPerDeliveryUs,
      failure: stepFailure(result),
    };
  } catch (error) {
    return {
      rate,
      deliveriesPerSec: 0,
      p99Ms: 0,
      lost: 0,
      duplicated: 0,
      reordered: 0,
      disconnected: 0,
      publishLagMs: 0,
      cpuPerDeliveryUs: 0,
      failure: `error: ${(error as Error).message}`,
    };
  }
}
