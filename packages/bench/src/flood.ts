import type { ChildProcess } from 'node:child_process';
import { extname, join } from 'node:path';
import WebSocket from 'ws';
import { spawnWithFileLimit } from './targets.ts';

/** What one abusive WebSocket client did during a run, and what the server did to it. */
export interface FloodStats {
  /** Frames it sent: junk, unknown ops and subscribes to ever new channels, mixed. */
  readonly framesSent: number;
  /** Connections it opened: it comes straight back each time it is cut. */
  readonly connections: number;
  /** Of those, the ones the flooder saw closed, by close code. */
  readonly closeCodes: Record<string, number>;
  /**
   * Connections the server says it closed for their rate (its /metrics,
   * `pushwire_connections_ended_total{code="rate_limited"}`); null where it can't be read.
   */
  readonly serverCuts: number | null;
  /** The healthy subscribers' latency in the same run without the flood (filled in by the scenario). */
  readonly baselineP50Ms: number;
  readonly baselineP99Ms: number;
  readonly baselineMaxMs: number;
}

/** Frames sent per turn of the flooder's event loop, while the socket takes them. */
const FRAMES_PER_TURN = 500;
/** The flooder stops sending while this much is waiting in its own socket. */
const MAX_BUFFERED = 1024 * 1024;
/** A bound on the whole flood, whatever the run's duration. */
const MAX_FRAMES = 5_000_000;
/** The flooder's process ends after this long, whatever it was told. */
const MAX_FLOOD_MS = 10 * 60_000;
/** Back this soon after a cut, as a determined client would be. */
const RECONNECT_MS = 50;

type FloodCounts = Omit<FloodStats, 'baselineP50Ms' | 'baselineP99Ms' | 'baselineMaxMs' | 'serverCuts'>;

/**
 * The flooder in a process of its own, as an abusive client is: the load generator's own
 * work (publishing, the subscribers' bookkeeping) neither slows it nor is slowed by it.
 */
export class FloodProcess {
  /** Resolves once the flooder's first connection is open and flooding. */
  readonly flooding: Promise<void>;
  private readonly child: ChildProcess;
  private readonly result: Promise<FloodCounts>;

  constructor(private readonly baseUrl: string) {
    const file = join(import.meta.dirname, `flood${extname(import.meta.filename)}`);
    const loader = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
    this.child = spawnWithFileLimit(process.execPath, [...loader, file, baseUrl], 'ipc');
    const exited = new Promise<never>((_, reject) =>
      this.child.once('exit', (code) => reject(new Error(`the flooder exited (${code}) without a report`))),
    );
    exited.catch(() => {});
    const message = (type: string) =>
      Promise.race([
        new Promise<FloodMessage>((resolve) => {
          const listener = (m: FloodMessage) => {
            if (m.type !== type) return;
            this.child.off('message', listener);
            resolve(m);
          };
          this.child.on('message', listener);
        }),
        exited,
      ]);
    this.flooding = message('open').then(() => {});
    this.result = message('report').then((m) => (m as Extract<FloodMessage, { type: 'report' }>).counts);
    this.flooding.catch(() => {});
    this.result.catch(() => {});
  }

  /** Stops the flood and says what it did; the process is gone afterwards. */
  async stop(): Promise<Omit<FloodStats, 'baselineP50Ms' | 'baselineP99Ms' | 'baselineMaxMs'>> {
    if (this.child.connected) this.child.send('stop');
    try {
      return { ...(await this.result), serverCuts: await this.serverCuts() };
    } finally {
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
  }

  private async serverCuts(): Promise<number | null> {
    try {
      const response = await fetch(`${this.baseUrl}/metrics`, { signal: AbortSignal.timeout(10_000) });
      if (!response.ok) return null;
      const line = /^pushwire_connections_ended_total\{code="rate_limited"\} (\d+)/m.exec(
        await response.text(),
      );
      return line ? Number(line[1]) : 0;
    } catch {
      return null;
    }
  }
}

type FloodMessage = { type: 'open' } | { type: 'report'; counts: FloodCounts };

/**
 * One connection that floods the server with frames as fast as its socket takes them, and
 * comes back whenever it is cut, until stopped. It reads (and drops) what the server answers,
 * so that what cuts it is the server's defence against floods, not its own backlog.
 */
export class Flooder {
  private framesSent = 0;
  private connections = 0;
  private readonly closeCodes: Record<string, number> = {};
  private stopped = false;
  private ws: WebSocket | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly baseUrl: string,
    private readonly onOpen: () => void = () => {},
  ) {}

  start(): void {
    this.connect();
  }

  /** Stops flooding and says what happened. */
  stop(): FloodCounts {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.terminate();
    return { framesSent: this.framesSent, connections: this.connections, closeCodes: { ...this.closeCodes } };
  }

  private connect(): void {
    if (this.stopped) return;
    this.connections += 1;
    const ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/ws`, { perMessageDeflate: false });
    this.ws = ws;
    ws.on('open', () => {
      this.onOpen();
      this.pump(ws);
    });
    ws.on('message', () => {});
    ws.on('error', () => {});
    ws.on('close', (code) => {
      if (this.stopped) return;
      this.closeCodes[code] = (this.closeCodes[code] ?? 0) + 1;
      this.timer = setTimeout(() => this.connect(), RECONNECT_MS);
    });
  }

  private pump(ws: WebSocket): void {
    if (this.stopped || ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount < MAX_BUFFERED) {
      for (let i = 0; i < FRAMES_PER_TURN && this.framesSent < MAX_FRAMES; i++) {
        const n = this.framesSent++;
        switch (n % 3) {
          case 0:
            ws.send(`{"id":${n},"op":"subscribe","channel":"flood-${n}"}`);
            break;
          case 1:
            ws.send(`{"id":${n},"op":"nonsense"}`);
            break;
          default:
            ws.send('not json at all');
        }
      }
    }
    if (this.framesSent < MAX_FRAMES) setImmediate(() => this.pump(ws));
  }
}

// Run as the flooder's own process (FloodProcess): flood until told to stop, then report.
if (process.send && process.argv[1] === import.meta.filename) {
  const send = (message: FloodMessage, then: () => void = () => {}) =>
    process.send?.(message, undefined, undefined, then);
  let opened = false;
  const flooder = new Flooder(process.argv[2]!, () => {
    if (!opened) send({ type: 'open' });
    opened = true;
  });
  flooder.start();
  process.on('message', () => {
    send({ type: 'report', counts: flooder.stop() }, () => process.exit(0));
  });
  // Never outlive the load generator, nor flood for longer than any run takes.
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => process.exit(0), MAX_FLOOD_MS).unref();
}
