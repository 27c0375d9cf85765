import type { AccessHook, AccessRequest, ReadOp } from '../../core/index.ts';
import { PushwireError } from '../../protocol/index.ts';
import type { AppHook } from './app-hook.ts';

/**
 * The subscribe and publish hooks as the hub's AccessHook: the hub asks on the channels whose
 * namespace says so. A subscribe hook allows with any 2xx; a publish hook's 2xx may carry
 * `{"data": …}` to publish instead of the client's data.
 */
export class AppAccessHook implements AccessHook {
  constructor(
    private readonly subscribeHook: AppHook | null,
    private readonly publishHook: AppHook | null,
    private readonly maxMessageBytes: number,
    private readonly log: (msg: string) => void,
  ) {}

  async read({ identity, channel, clientId, op }: AccessRequest & { readonly op: ReadOp }): Promise<void> {
    const body = JSON.stringify({ type: 'subscribe', op, channel, clientId, user: identity.userId });
    await required(this.subscribeHook, 'subscribe').ask(body);
  }

  async publish({
    identity,
    channel,
    clientId,
    data,
  }: AccessRequest & { readonly data: string }): Promise<string> {
    const head = JSON.stringify({ type: 'publish', channel, clientId, user: identity.userId });
    // The data is JSON text already checked at the edge: put it in as it is, not parsed again.
    const body = `${head.slice(0, -1)},"data":${data}}`;
    const answer = await required(this.publishHook, 'publish').ask(body);
    if (!Object.hasOwn(answer, 'data')) return data;
    const replaced = JSON.stringify(answer.data);
    if (replaced === undefined || Buffer.byteLength(replaced) > this.maxMessageBytes) {
      this.log(
        `publish hook: the data it put instead is not JSON or larger than ${this.maxMessageBytes} bytes`,
      );
      throw new PushwireError('unavailable', "the application's publish check failed");
    }
    return replaced;
  }
}

function required(hook: AppHook | null, name: string): AppHook {
  if (hook) return hook;
  throw new PushwireError('unavailable', `this channel needs the ${name} hook, and none is set`);
}
