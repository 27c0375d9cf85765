import WebSocket from 'ws';

/** What one abusive WebSocket client did during a run, and what the server did to it. */
export interface FloodStats {
  /** Frames it sent: junk, unknown ops and subscribes to ever new channels, mixed. */
  readonly framesSent: number;
  /** Connections it opened: it comes straight back each time it is cut. */
  readonly connections: number;
  /** Of those, the ones the server closed, by close code. */
  readonly closeCodes: Record<string, number>;
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
/** Back this soon after a cut, as a determined client would be. */
const RECONNECT_MS = 50;

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

  constructor(private readonly baseUrl: string) {}

  start(): void {
    this.connect();
  }

  /** Stops flooding and says what happened. */
  stop(): Omit<FloodStats, 'baselineP50Ms' | 'baselineP99Ms' | 'baselineMaxMs'> {
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
    ws.on('open', () => this.pump(ws));
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
