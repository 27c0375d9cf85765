import { parseTransportName, type TransportName, transportNamesHint } from '../../protocol/index.ts';
import { longPollTransport } from './longpoll.ts';
import { sseTransport } from './sse.ts';
import { streamTransport } from './stream.ts';
import type { ClientTransport, TransportPlatform } from './types.ts';
import { websocketTransport } from './websocket.ts';

const TRANSPORTS: Record<TransportName, (platform: TransportPlatform) => ClientTransport> = {
  websocket: websocketTransport,
  sse: sseTransport,
  longpoll: longPollTransport,
  stream: streamTransport,
};

/**
 * The transports named by the `transports` option (aliases and any case allowed), in order,
 * that this platform supports. Throws on an unknown name, listing the valid ones, and when none
 * is supported.
 */
export function chooseTransports(names: readonly string[], platform: TransportPlatform): ClientTransport[] {
  const chosen = new Set<TransportName>();
  for (const text of names) {
    const name = parseTransportName(String(text));
    if (!name) throw new Error(`unknown transport "${text}": use ${transportNamesHint()}`);
    chosen.add(name);
  }
  const supported = [...chosen].map((name) => TRANSPORTS[name](platform)).filter((t) => t.supported());
  if (supported.length === 0) {
    // In Node 20 (no global WebSocket or EventSource) the package's node entry brings both.
    throw new Error(`no WebSocket, EventSource or fetch here for ${[...chosen]}: pass them as options`);
  }
  return supported;
}
