// The SDK's Node entry (`pushwire/client` under the `node` export condition): Node 20 has
// fetch but no global WebSocket or EventSource, so without these every client there would
// quietly run on long polling. The browser bundle is built from index.ts and never sees this.
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { Pushwire as BasePushwire } from './pushwire.ts';
import type { PushwireOptions } from './types.ts';

export * from './index.ts';

/**
 * A Pushwire client for Node: the `ws` package is its WebSocket and the `eventsource`
 * package its EventSource (unless the options give others), so every transport works as in
 * a browser.
 */
export class Pushwire extends BasePushwire {
  constructor(url: string, options: PushwireOptions = {}) {
    super(url, {
      ...options,
      WebSocket: options.WebSocket ?? WebSocket,
      EventSource: options.EventSource ?? EventSource,
    });
  }
}
