import { isSystemChannel, PushwireError } from '../protocol/index.ts';
import type { ChannelOptions, Identity } from './types.ts';

/**
 * Every rights check of a client's request, in one place: sessions call it for each command
 * and the hub for reads without a session, whatever the transport. An identity says what its
 * credentials allow; a channel's namespace says what everyone may do there.
 */
export class Access {
  constructor(private readonly channelOptions: (channel: string) => ChannelOptions) {}

  mayRead(identity: Identity, channel: string): boolean {
    // The server's own channels ($admin:stats) take credentials the server issued for them.
    if (isSystemChannel(channel) && identity.system !== true) return false;
    return identity.canSubscribe(channel);
  }

  /** Subscribe, history, presence and polls of `channel`. */
  assertRead(identity: Identity, channel: string): void {
    if (!this.mayRead(identity, channel)) {
      throw new PushwireError('forbidden', `not allowed to read "${channel}"`);
    }
  }

  assertPublish(identity: Identity, channel: string): void {
    if (isSystemChannel(channel)) {
      throw new PushwireError(
        'forbidden',
        `"${channel}" is the server's own: only the server publishes there`,
      );
    }
    if (this.channelOptions(channel).clientPublish || identity.canPublish(channel)) return;
    throw new PushwireError(
      'forbidden',
      `clients may not publish on "${channel}": allow it with clientPublish on its namespace ` +
        '(or --client-publish), or give the client a token whose "publish" claim names the channel',
    );
  }

  assertPresence(identity: Identity, channel: string): void {
    this.assertRead(identity, channel);
    if (this.channelOptions(channel).presence) return;
    throw new PushwireError(
      'invalid_request',
      `presence is off on "${channel}": turn it on with presence on its namespace (or --presence)`,
    );
  }
}
