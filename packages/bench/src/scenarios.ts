import { DEFAULTS } from 'pushwire';
import { type CapacityResult, runCapacity } from './capacity.ts';
import { type ConnectionsResult, runConnections } from './connections.ts';
import { type DropsParams, type DropsResult, runDrops } from './drops.ts';
import { type FanoutParams, type FanoutResult, fanoutParams, runFanout } from './fanout.ts';
import { type MaxRateResult, searchMaxRate } from './max-rate.ts';
import { type BenchOptions, type ScenarioName, settingsFor } from './options.ts';
import { ProgressLine } from './progress.ts';
import type { AnyResult } from './results.ts';
import { OPEN_FILES, type RunningTarget, type StartOptions, type TargetInfo } from './targets.ts';
import type { TransportName } from './wire.ts';

/** One scenario on one target, transport and N: the unit that is run (and repeated). */
export interface ScenarioCase {
  readonly scenario: ScenarioName;
  readonly target: TargetInfo;
  readonly transport: TransportName;
  readonly subscribers: number;
}

/** One run of one case: `run` counts from 0 for each case. */
export interface PlannedRun {
  readonly index: number;
  readonly run: number;
}

/**
 * The order of `repeat` runs of `cases` cases: in rounds, each case once a round, every other
 * round backwards. A machine whose speed drifts over minutes (a shared host, a warming cache)
 * would favour whichever target ran its repeats first; taking turns spreads the drift over
 * all of them, and going back and forth gives each case, over two rounds, the same mean place
 * in time and the same share of runs right after any other case.
 */
export function runOrder(cases: number, repeat: number): PlannedRun[] {
  const order: PlannedRun[] = [];
  for (let run = 0; run < repeat; run++) {
    for (let i = 0; i < cases; i++) order.push({ index: run % 2 === 0 ? i : cases - 1 - i, run });
  }
  return order;
}

/**
 * After a storm or a flood of publishes the last deliveries are waited for this long, and
 * until nothing arrived for LONG_DRAIN_IDLE_MS: a subscriber far behind can see its stream
 * pause for seconds while the server and the other subscribers catch up.
 */
const LONG_DRAIN_MS = 60_000;
const LONG_DRAIN_IDLE_MS = 10_000;
/** Connections one server process holds at most: its open files, less room for the rest. */
const MAX_CONNECTIONS_PER_PROCESS = OPEN_FILES - 1000;

/**
 * The cases of `scenario`, targets side by side for each N and transport so that they share
 * the machine's state. What applies where:
 * - publish runs once per target (on its first selected transport), with N = 0 first;
 * - reconnect needs resume from a cursor: the targets that have it (Pushwire, raw);
 * - connect leaves out Nchan's long poll, whose subscription can't be seen to be live
 *   until a message comes (its idle memory is still measured).
 */
export function planCases(
  scenario: ScenarioName,
  targets: readonly TargetInfo[],
  options: BenchOptions,
): ScenarioCase[] {
  const { subscribers } = settingsFor(scenario, options);
  const cases: ScenarioCase[] = [];
  if (scenario === 'capacity') {
    // One case per target and N, every transport of the mix in it (named by its first). It
    // speaks Pushwire's wire format and needs a multi-process server: Pushwire and raw.
    const mix = options.mix.map((share) => share.transport);
    for (const n of subscribers) {
      for (const target of targets) {
        if (target.dialect !== 'pushwire' || !mix.every((t) => target.transports.includes(t))) continue;
        cases.push({ scenario, target, transport: mix[0]!, subscribers: n });
      }
    }
    return cases;
  }
  if (scenario === 'publish') {
    for (const n of [0, ...subscribers.filter((value) => value > 0)]) {
      for (const target of targets) {
        const transport = options.transports.find((t) => target.transports.includes(t));
        if (transport) cases.push({ scenario, target, transport, subscribers: n });
      }
    }
    return cases;
  }
  for (const n of subscribers) {
    for (const transport of options.transports) {
      for (const target of targets) {
        if (!target.transports.includes(transport)) continue;
        if (scenario === 'reconnect' && !target.resumes) continue;
        // The drops are driven by Pushwire's own SDK: only Pushwire speaks its protocol.
        if ((scenario === 'drops' || scenario === 'drops-silent') && target.name !== 'pushwire') continue;
        if (scenario === 'connect' && target.dialect === 'nchan' && transport === 'poll') continue;
        // The flood speaks Pushwire's WebSocket commands: its defences are what is measured.
        if (scenario === 'flood' && target.name !== 'pushwire') continue;
        cases.push({ scenario, target, transport, subscribers: n });
      }
    }
  }
  return cases;
}

/** Runs one case: every target it needs started fresh and stopped by PID afterwards. */
export async function runCase(
  item: ScenarioCase,
  options: BenchOptions,
  nextBlock: () => number,
  label: string,
): Promise<AnyResult> {
  const settings = settingsFor(item.scenario, options);
  const { target, transport, subscribers } = item;
  const base = (rate: number): FanoutParams => ({
    ...fanoutParams(subscribers, rate, settings.durationMs, options.payloadBytes, nextBlock()),
    latencyFrom: options.latencyFrom,
  });
  switch (item.scenario) {
    case 'fanout':
      return fanoutCase(target, transport, base(settings.rate), label);
    case 'channels':
      return fanoutCase(target, transport, { ...base(settings.rate), channels: subscribers }, label);
    case 'publish':
      return fanoutCase(
        target,
        transport,
        {
          ...base(0),
          rate: null,
          inFlight: options.inFlight,
          drainTimeoutMs: LONG_DRAIN_MS,
          drainIdleMs: LONG_DRAIN_IDLE_MS,
        },
        label,
      );
    case 'reconnect':
      return fanoutCase(
        target,
        transport,
        {
          ...base(settings.rate),
          stormAtMs: Math.round(settings.durationMs / 3),
          drainTimeoutMs: LONG_DRAIN_MS,
          drainIdleMs: LONG_DRAIN_IDLE_MS,
        },
        // Each target's own history settings: Pushwire's default keeps the last 30 s whatever
        // the count, which a storm that takes longer than that does not resume from whole.
        label,
      );
    case 'flood': {
      // Side by side on fresh targets: the same run without the flood, then with it.
      const calm = await fanoutCase(target, transport, base(settings.rate), `${label} no flood`);
      const flooded = await fanoutCase(
        target,
        transport,
        { ...base(settings.rate), flood: true },
        `${label} flood`,
      );
      const flood = flooded.flood && {
        ...flooded.flood,
        baselineP50Ms: calm.latency.p50Ms,
        baselineP99Ms: calm.latency.p99Ms,
        baselineMaxMs: calm.latency.maxMs,
      };
      process.stderr.write(`${label} ${floodSummary({ ...flooded, flood })}\n`);
      return { ...flooded, flood };
    }
    case 'max-rate': {
      const result = await searchMaxRate(subscribers, settings.rate, (rate) =>
        fanoutCase(target, transport, base(rate), `${label} ${rate} msg/s`),
      );
      process.stderr.write(`${label} max sustained ${maxRateSummary(result)}\n`);
      return result;
    }
    case 'drops':
    case 'drops-silent': {
      const params: DropsParams = {
        clients: subscribers,
        rate: settings.rate,
        durationMs: settings.durationMs,
        payloadBytes: options.payloadBytes,
        mode: item.scenario === 'drops' ? 'cut' : 'silent',
        periodMs: options.dropEveryMs,
        jitterMs: Math.round(options.dropEveryMs / 5),
        awayMs: options.dropAwayMs,
        block: nextBlock(),
      };
      const [result, progress] = await withTarget(target, label, (running, line) =>
        runDrops(running, transport, params, line),
      );
      progress.done(dropsSummary(result));
      return result;
    }
    case 'capacity': {
      const perProcess = Math.ceil(subscribers / options.workers);
      if (perProcess > MAX_CONNECTIONS_PER_PROCESS) {
        throw new Error(
          `${subscribers} connections over ${options.workers} server process(es) is ${perProcess} each, more than the ${MAX_CONNECTIONS_PER_PROCESS} that fit in ${OPEN_FILES} open files: use --workers ${Math.ceil(subscribers / MAX_CONNECTIONS_PER_PROCESS)} or more`,
        );
      }
      const [result, progress] = await withTarget(
        target,
        label,
        (running, line) =>
          runCapacity(
            target,
            running,
            {
              connections: subscribers,
              mix: options.mix,
              holdMs: options.holdMs,
              workers: options.workers,
              payloadBytes: options.payloadBytes,
              nextBlock,
            },
            line,
          ),
        // Pushwire has its --workers among its serve arguments already; raw gets as many, and
        // holds its connections as Pushwire does: with heartbeats, at Pushwire's default interval.
        { workers: options.workers, heartbeatMs: DEFAULTS.heartbeatIntervalMs ?? undefined },
      );
      progress.done(capacitySummary(result));
      return result;
    }
    case 'idle':
    case 'connect':
      return withTarget(target, label, (running, progress) =>
        runConnections(target, running, transport, { subscribers, block: nextBlock() }, progress),
      ).then(([result, progress]) => {
        progress.done(connectionsSummary(result));
        return result;
      });
  }
}

async function fanoutCase(
  target: TargetInfo,
  transport: TransportName,
  params: FanoutParams,
  label: string,
  start?: StartOptions,
): Promise<FanoutResult> {
  const [result, progress] = await withTarget(
    target,
    label,
    (running, line) => runFanout(target, running, transport, params, line),
    start,
  );
  progress.done(fanoutSummary(result));
  return result;
}

/** Starts the target fresh, runs `body` on it, and stops it by PID, whatever happens. */
async function withTarget<R>(
  target: TargetInfo,
  label: string,
  body: (running: RunningTarget, progress: ProgressLine) => Promise<R>,
  start?: StartOptions,
): Promise<[R, ProgressLine]> {
  const progress = new ProgressLine(label);
  progress.update('start', 0, '');
  const running = await target.start(start);
  runningTargets.add(running);
  try {
    return [await body(running, progress), progress];
  } finally {
    runningTargets.delete(running);
    await running.stop();
  }
}

const runningTargets = new Set<RunningTarget>();

/** Stops every target a scenario is running now (the runner is being stopped by a signal). */
export function stopRunningTargets(): Promise<number> {
  const running = [...runningTargets];
  return Promise.allSettled(running.map((target) => target.stop())).then(() => running.length);
}

function fanoutSummary(r: FanoutResult): string {
  const storm = r.storm
    ? `, storm: ${r.storm.reconnected}/${r.storm.dropped} back in ${r.storm.allLiveMs} ms`
    : '';
  return `${r.publishesPerSec.toLocaleString('en-US')} publishes/s, ${r.deliveriesPerSec.toLocaleString('en-US')} deliveries/s, p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms, lost ${r.lost}, dup ${r.duplicated}, reordered ${r.reordered}${storm}`;
}

function floodSummary(r: FanoutResult): string {
  const f = r.flood;
  if (!f) return '';
  const cuts = Object.entries(f.closeCodes)
    .map(([code, count]) => `${count}×${code}`)
    .join(' ');
  return `p99 ${f.baselineP99Ms} ms without the flood, ${r.latency.p99Ms} ms with it (max ${f.baselineMaxMs} / ${r.latency.maxMs} ms); flooder sent ${f.framesSent.toLocaleString('en-US')} frames on ${f.connections} connections, saw closes ${cuts || 'none'}, server cut ${f.serverCuts ?? '?'}`;
}

function dropsSummary(r: DropsResult): string {
  return `delivered ${r.deliveredPercent} % (lost ${r.lost}, dup ${r.duplicated}, reordered ${r.reordered}, gaps ${r.gaps}), replay p50 ${r.replay.p50Ms} ms p99 ${r.replay.p99Ms} ms, away p99 ${r.away.p99Ms} ms (back ${r.back.p99Ms} ms after the network), ${r.drops} drops (${r.attemptsPerDrop} attempts each), server conns max ${r.serverConnectionsMax} (${r.serverConnectionsRatio}× clients), server CPU ${r.serverCpu.meanPercent}/${r.serverCpu.maxPercent} % (waiting for a core ${r.serverRunQueueWait.meanPercent}/${r.serverRunQueueWait.maxPercent} %), generator CPU per child ${r.generatorCpu.meanPercent}/${r.generatorCpu.maxPercent} % ×${r.generatorChildren}, generator loop delay p99 ${r.generatorLoopDelayP99Ms} ms max ${r.generatorLoopDelayMaxMs} ms`;
}

function maxRateSummary(r: MaxRateResult): string {
  return `${r.lastGoodRate} msg/s (${r.deliveriesPerSec.toLocaleString('en-US')} deliveries/s, p99 ${r.p99Ms} ms); stopped ${r.stoppedBy}`;
}

function capacitySummary(r: CapacityResult): string {
  const perTransport = r.byTransport.map((t) => `${t.transport} ${t.memoryPerConnectionKb} KB`).join(', ');
  const time = r.allDeliveredMs === null ? 'not all delivered' : `100 % in ${r.allDeliveredMs} ms`;
  return `${r.connections} held ${Math.round(r.holdMs / 1000)} s on ${r.workers} process(es): ${r.disconnected} dropped, ${r.memoryPerConnectionKb} KB/conn (${perTransport}), ${r.memoryPerConnectionHeldKb} KB/conn after the hold; publish: ${r.deliveredPercent} % delivered, ${time}, p50 ${r.latency.p50Ms} ms, p99 ${r.latency.p99Ms} ms`;
}

function connectionsSummary(r: ConnectionsResult): string {
  return `${r.subscribers} live in ${r.connectMs} ms (${r.connectionsPerSec.toLocaleString('en-US')}/s), ${r.memoryPerConnectionKb} KB/conn after ${r.settleMs} ms settling`;
}
