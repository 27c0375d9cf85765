export type { ErrorEvent, PushFormat } from './connection-writer.ts';
export { HeartbeatWheel } from './heartbeat.ts';
export { sendError, sendJson } from './http-util.ts';
export { longPollTransport } from './longpoll.ts';
export { OutboundBudget } from './outbound-budget.ts';
export { sseTransport } from './sse.ts';
export { ndjsonStreamTransport } from './stream.ts';
export { refreshSession } from './token-refresh.ts';
export {
  newTransportCounters,
  type SubscribeParams,
  type Transport,
  type TransportContext,
  type TransportCounters,
  type UpgradeProblem,
  type Wire,
} from './types.ts';
export { webSocketTransport } from './websocket.ts';

import { longPollTransport } from './longpoll.ts';
import { sseTransport } from './sse.ts';
import { ndjsonStreamTransport } from './stream.ts';
import type { Transport, TransportContext } from './types.ts';
import { webSocketTransport } from './websocket.ts';

/** Every transport the server mounts, in one list. */
export function createTransports(context: TransportContext): readonly Transport[] {
  return [
    webSocketTransport(context),
    sseTransport(context),
    longPollTransport(context),
    ndjsonStreamTransport(context),
  ];
}
