import type { PresenceInfo } from '../brokers/types.ts';
import type { Publication, StreamPosition } from '../protocol/index.ts';
import type { Access } from './access.ts';
import type { History } from './resume-plan.ts';
import type {
  CommandResult,
  Identity,
  PublishLimitKeys,
  SessionCommand,
  SubscribeRequest,
  SubscribeStart,
} from './types.ts';

/** The part of the hub that commands use. */
export interface CommandHost {
  readonly access: Access;
  history(channel: string, query: { since?: StreamPosition; limit?: number }): Promise<History>;
  presenceOf(channel: string): Promise<PresenceInfo[]>;
  publishAs(
    identity: Identity,
    limits: PublishLimitKeys,
    channel: string,
    data: string,
    clientId: string | null,
  ): Promise<Publication>;
}

/** The session a command is carried out for. */
export interface CommandSession {
  readonly id: string;
  readonly address: string | null;
  readonly identity: Identity;
  subscribe(
    requests: readonly SubscribeRequest[],
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): Promise<readonly SubscribeStart[]>;
  subscribeNow(
    request: SubscribeRequest,
    onStart?: (starts: readonly SubscribeStart[], cursor: string) => void,
  ): readonly SubscribeStart[] | null;
  unsubscribe(channel: string): void;
}

/** The most messages one history command returns. */
const MAX_HISTORY_LIMIT = 1000;

/**
 * Carries out a client's command, with the rights of `session`'s client. `reply` gets the
 * outcome: for a subscribe, before the first replayed message, so the transport can send it
 * ahead of them. Undefined when the command is done at once (an unsubscribe, and a subscribe
 * that needs no waiting: see Session.subscribeNow); otherwise a promise of its end. Throws,
 * or rejects, with a PushwireError the transport reports to the client.
 */
export function carryOut(
  command: SessionCommand,
  session: CommandSession,
  host: CommandHost,
  reply: (result: CommandResult) => void,
): Promise<void> | undefined {
  const { channel } = command;
  switch (command.op) {
    case 'subscribe': {
      const request = { channel, since: command.cursor?.get(channel) };
      const started = ([start]: readonly SubscribeStart[]) => {
        const { epoch, offset } = start!.position;
        reply({ op: 'subscribe', channel, epoch, offset, cursor: start!.cursor });
      };
      if (session.subscribeNow(request, started)) return undefined;
      return session.subscribe([request], started).then(nothing);
    }
    case 'unsubscribe':
      session.unsubscribe(channel);
      reply({ op: 'unsubscribe', channel });
      return undefined;
    default:
      return carryOutLater(command, session, host, reply);
  }
}

const nothing = (): void => {};

/** The commands that always wait: for the broker, or for the application. */
async function carryOutLater(
  command: Exclude<SessionCommand, { op: 'subscribe' | 'unsubscribe' }>,
  session: CommandSession,
  host: CommandHost,
  reply: (result: CommandResult) => void,
): Promise<void> {
  const { channel } = command;
  switch (command.op) {
    case 'publish': {
      const { epoch, offset } = await host.publishAs(
        session.identity,
        { connection: session.id, address: session.address },
        channel,
        command.data,
        session.id,
      );
      reply({ op: 'publish', channel, offset, epoch });
      return;
    }
    case 'history': {
      host.access.assertRead(session.identity, channel);
      await host.access.askRead(session.identity, channel, session.id, 'history');
      const limit = Math.min(command.limit ?? MAX_HISTORY_LIMIT, MAX_HISTORY_LIMIT);
      const since = command.cursor?.get(channel);
      const { publications, top } = await host.history(channel, since ? { since, limit } : { limit });
      reply({ op: 'history', channel, publications, epoch: top.epoch, offset: top.offset });
      return;
    }
    case 'presence': {
      host.access.assertPresence(session.identity, channel);
      await host.access.askRead(session.identity, channel, session.id, 'presence');
      reply({ op: 'presence', channel, clients: await host.presenceOf(channel) });
      return;
    }
  }
}
