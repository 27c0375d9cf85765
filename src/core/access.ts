import { isSystemChannel, PushwireError } from '../protocol/index.ts';
import type { ChannelGrant, ChannelOptions, Identity } from './types.ts';

/**
 * Whether a pattern of a token's `channels` or `publish` claim covers `channel`. Patterns
 * work on the `:`-separated segments of a name: a segment `*` matches exactly one segment (so
 * `chat:*` covers `chat:a`, not `chat:a:b` nor `chatroom:x`), and a last segment `**` matches
 * one or more segments (`chat:**` covers `chat:a` and `chat:a:b`; `**` alone every channel).
 * Any other segment matches itself only: `chat*` is no prefix.
 */
export function channelPatternMatches(pattern: string, channel: string): boolean {
  if (pattern === channel) return true;
  const wanted = pattern.split(':');
  const given = channel.split(':');
  for (let i = 0; i < wanted.length; i++) {
    const segment = wanted[i]!;
    if (segment === '**' && i === wanted.length - 1) return given.length > i;
    const actual = given[i];
    if (actual === undefined) return false;
    if (segment === '*' ? actual === '' : segment !== actual) return false;
  }
  return wanted.length === given.length;
}

/** Whether a grant covers `channel`: fail closed, an empty list grants nothing. */
export function grants(grant: ChannelGrant, channel: string): boolean {
  if (grant === 'all') return true;
  for (const pattern of grant) if (channelPatternMatches(pattern, channel)) return true;
  return false;
}

/** What a read of a channel is for, as an access hook is told. */
export type ReadOp = 'subscribe' | 'history' | 'presence';

/** A client's request as an access hook sees it. */
export interface AccessRequest {
  readonly identity: Identity;
  readonly channel: string;
  /** The client's connection id; null for an HTTP publish that named none. */
  readonly clientId: string | null;
}

/**
 * Asks the application (the server's subscribe and publish hooks) where a channel's namespace
 * says so. Implementations MUST reject with a PushwireError: `unauthorized` or `forbidden`
 * (with the application's message) when it refuses, `unavailable` when it can't be asked.
 * They MUST NOT let a request through when the application can't be asked.
 */
export interface AccessHook {
  /** Resolves when the application lets the client read the channel. */
  read(request: AccessRequest & { readonly op: ReadOp }): Promise<void>;
  /** Resolves with the data to publish: the client's, or what the application put instead. */
  publish(request: AccessRequest & { readonly data: string }): Promise<string>;
}

/**
 * Every rights check of a client's request, in one place: sessions call it for each command
 * and the hub for reads without a session, whatever the transport. An identity says what its
 * credentials allow; a channel's namespace says what everyone may do there, and whether the
 * application is asked too (`subscribeHook`, `publishHook`).
 */
export class Access {
  constructor(
    private readonly channelOptions: (channel: string) => ChannelOptions,
    private readonly hook: AccessHook | null = null,
  ) {}

  mayRead(identity: Identity, channel: string): boolean {
    // The server's own channels ($admin:stats) take credentials the server issued for them.
    if (isSystemChannel(channel) && identity.system !== true) return false;
    return grants(identity.subscribe, channel) || this.channelOptions(channel).public === true;
  }

  /** Whether a read may go without asking the application (the hub's reads from memory). */
  mayReadUnasked(identity: Identity, channel: string): boolean {
    return this.mayRead(identity, channel) && !this.channelOptions(channel).subscribeHook;
  }

  /** Subscribe, history, presence and polls of `channel`. */
  assertRead(identity: Identity, channel: string): void {
    if (!this.mayRead(identity, channel)) {
      throw new PushwireError('forbidden', `not allowed to read "${channel}"`);
    }
  }

  /** Whether a read of `channel` waits for the application's word (askRead). */
  asksRead(channel: string): boolean {
    return Boolean(this.channelOptions(channel).subscribeHook);
  }

  /** The application's word on a read, where the channel's namespace asks for it. */
  async askRead(identity: Identity, channel: string, clientId: string | null, op: ReadOp): Promise<void> {
    if (!this.asksRead(channel)) return;
    await this.hookOrFail().read({ identity, channel, clientId, op });
  }

  assertPublish(identity: Identity, channel: string): void {
    if (isSystemChannel(channel)) {
      throw new PushwireError(
        'forbidden',
        `"${channel}" is the server's own: only the server publishes there`,
      );
    }
    if (this.channelOptions(channel).clientPublish || grants(identity.publish, channel)) return;
    throw new PushwireError(
      'forbidden',
      `clients may not publish on "${channel}": allow it with clientPublish on its namespace ` +
        '(or --client-publish), or give the client a token whose "publish" claim names the channel',
    );
  }

  /** The data to publish after the application's word, where the channel's namespace asks for it. */
  async askPublish(
    identity: Identity,
    channel: string,
    data: string,
    clientId: string | null,
  ): Promise<string> {
    if (!this.channelOptions(channel).publishHook) return data;
    return this.hookOrFail().publish({ identity, channel, clientId, data });
  }

  assertPresence(identity: Identity, channel: string): void {
    this.assertRead(identity, channel);
    if (this.channelOptions(channel).presence) return;
    throw new PushwireError(
      'invalid_request',
      `presence is off on "${channel}": turn it on with presence on its namespace (or --presence)`,
    );
  }

  /** A namespace that asks the application, on a hub given no hook: refuse rather than let in. */
  private hookOrFail(): AccessHook {
    if (this.hook) return this.hook;
    throw new PushwireError('unavailable', 'this channel needs an authorization hook, and none is set');
  }
}
