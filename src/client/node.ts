// The SDK's Node entry (`pushwire/client` under the `node` export condition): Node 20 has
// fetch but no global WebSocket or EventSource, so without these every client there would
// quietly run on long polling. The browser bundle is built from index.ts and never sees this.
import type { Agent } from 'node:http';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { nodeGet } from './node-get.ts';
import { Pushwire as BasePushwire } from './pushwire.ts';
import type { PushwireOptions } from './types.ts';

export * from './index.ts';

/** The options of the Node client: those of every platform, and the agent of its long polls. */
export interface NodePushwireOptions extends PushwireOptions {
  /**
   * The `node:http` (or `node:https`) Agent long polls go through: one for a proxy, or for
   * custom sockets. Default: Node's global agent, which keeps connections alive.
   */
  agent?: Agent;
}

/**
 * A Pushwire client for Node: the `ws` package is its WebSocket and the `eventsource`
 * package its EventSource (unless the options give others), so every transport works as in
 * a browser. Long polls go over `node:http`, cheaper per poll than fetch, unless the options
 * give a `fetch` and no `agent`: then that fetch makes them, as in a browser.
 */
export class Pushwire extends BasePushwire {
  constructor(url: string, options: NodePushwireOptions = {}) {
    const { agent, ...shared } = options;
    super(
      url,
      {
        ...shared,
        WebSocket: options.WebSocket ?? WebSocket,
        EventSource: options.EventSource ?? EventSource,
      },
      agent || !options.fetch ? nodeGet(agent) : undefined,
    );
  }
}
