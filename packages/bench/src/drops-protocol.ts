import type { DropMode } from './drop-network.ts';

/** The SDK's names of the transports (the bench's `ws` and `poll` are its aliases). */
export type SdkTransport = 'websocket' | 'sse' | 'longpoll' | 'stream';

export interface DropsStart {
  type: 'start';
  /** The server's port on 127.0.0.1. */
  port: number;
  transport: SdkTransport;
  channel: string;
  count: number;
  /** The source address of each client (clientAddress: one per client). */
  localAddresses: string[];
  mode: DropMode;
  connectTimeoutMs: number;
}

/** Parent → drop-scenario child. */
export type DropsToWorker =
  | DropsStart
  /** Publishing begins: drop each client every periodMs ± jitterMs, for about awayMs. */
  | { type: 'drops'; periodMs: number; jitterMs: number; awayMs: number }
  /** Publishing is over: offsets 1..expected were published; stop dropping and report. */
  | { type: 'finish'; expected: number }
  | { type: 'close' };

/** What one child's clients got. Histograms in the sparse form of LatencyHistogram. */
export interface DropsWorkerResult {
  clients: number;
  /** Messages delivered right after the one before (offset + 1): once and in order. */
  inOrder: number;
  duplicated: number;
  /** Messages that came after a hole (an offset skipped). */
  skipped: number;
  gaps: number;
  /** Clients that never got the last message. */
  incomplete: number;
  drops: number;
  reconnects: number;
  /** The SDK's reconnect attempts while coming back from drops (failed ones while down included). */
  attempts: number;
  replay: number[];
  live: number[];
  away: number[];
  back: number[];
  /** This child's event-loop delay while clients dropped (perf_hooks monitorEventLoopDelay). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** Drop-scenario child → parent. */
export type DropsToParent =
  | { type: 'hello' }
  | { type: 'progress'; ready: number; drops: number; reconnects: number }
  | { type: 'ready'; ready: number }
  | { type: 'result'; result: DropsWorkerResult };
