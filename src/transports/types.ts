import type { Hub, Identity } from '../core/index.ts';
import type { Cursor } from '../protocol/index.ts';
import type { HeartbeatWheel } from './heartbeat.ts';

export type TransportName = 'websocket' | 'sse' | 'longpoll' | 'stream';

/** A subscribe request of SSE, stream or long poll, validated at the edge by the server. */
export interface SubscribeParams {
  readonly channels: readonly string[];
  readonly cursor: Cursor | null;
  readonly identity: Identity;
  /** Response headers the server adds for this request (CORS). */
  readonly headers: Readonly<Record<string, string>>;
}

/** What every transport gets from the server that mounts it. */
export interface TransportContext {
  readonly hub: Hub;
  /** null when heartbeats are off. */
  readonly heartbeat: HeartbeatWheel | null;
  /** A connection whose unsent bytes pass this is a slow consumer and is closed. */
  readonly maxBufferedBytes: number;
  readonly pollTimeoutMs: number;
  readonly report: (stage: string, error: unknown) => void;
}
