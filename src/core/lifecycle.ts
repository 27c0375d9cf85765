import { randomUUID } from 'node:crypto';
import type { ErrorCode, Publication, TransportName } from '../protocol/index.ts';
import type { NodeLoss, Occupancy } from './occupancy.ts';
import type { CloseRequest } from './types.ts';

/** Why a client's connection ended, as lifecycle events tell it. */
export type DisconnectReason =
  /** The client closed the connection, or it broke. */
  | 'client_closed'
  | 'heartbeat_timeout'
  | 'slow_consumer'
  /** Its credentials expired (a connect hook's `expiresAt`). */
  | 'token_expired'
  /** The node drained on shutdown and told the client to reconnect. */
  | 'drained'
  /** The node the client was on died; told by another node. */
  | 'node_lost'
  /** The server closed without draining. */
  | 'server_closed'
  /** The client came back on a new connection that named this one (`?replaces=`). */
  | 'replaced'
  /** The server ended it for another reason, given in `code`. */
  | 'disconnected';

/** What every lifecycle event carries; fields that don't apply to a type are null. */
interface EventBase {
  /** Unique; a receiver deduplicates on it (events are delivered at least once). */
  readonly id: string;
  /** When it happened, in milliseconds since the epoch. */
  readonly time: number;
  /** The node the client is (or was) connected to. */
  readonly node: string;
  readonly clientId: string | null;
  readonly user: string | null;
  readonly channel: string | null;
  /** The event's place among its client's events: connect is 1, each later one 1 more. */
  readonly clientSeq: number | null;
  /** The event's place among its channel's subscribe, unsubscribe, occupied and vacated events. */
  readonly channelSeq: number | null;
}

export type LifecycleEvent =
  | (EventBase & { readonly type: 'connect'; readonly transport: TransportName })
  | (EventBase & {
      readonly type: 'disconnect';
      readonly reason: DisconnectReason;
      /** The error code the server ended the connection with; null when it didn't. */
      readonly code: ErrorCode | null;
    })
  | (EventBase & { readonly type: 'subscribe' | 'unsubscribe' })
  | (EventBase & { readonly type: 'channel_occupied' | 'channel_vacated' })
  | (EventBase & { readonly type: 'publish'; readonly offset: number; readonly epoch: string });

export type LifecycleEventType = LifecycleEvent['type'];

/** Where the hub sends lifecycle events (the server's webhook sender). */
export interface LifecycleListener {
  /** Whether events of `channel` are wanted. Called for each channel event: make it cheap. */
  wants(channel: string): boolean;
  /**
   * One event. Events come in the order they happened on this node. MUST NOT throw and MUST
   * NOT block: queue.
   */
  event(event: LifecycleEvent): void;
}

export interface LifecycleOptions {
  readonly listener: LifecycleListener;
  readonly occupancy: Occupancy;
  /** Also tell of each publish on the channels the listener wants. */
  readonly publishEvents: boolean;
}

/** A connection as lifecycle events see it. */
export interface LifecycleClient {
  readonly id: string;
  readonly userId: string | null;
  readonly transport: TransportName;
}

interface ClientState {
  readonly clientId: string;
  readonly user: string | null;
  seq: number;
}

/** A place in the event order, filled once the occupancy store has numbered its events. */
interface Slot {
  events: readonly LifecycleEvent[] | null;
}

/** The disconnect reason of a session that ended with `ending` (null: it just closed). */
export function disconnectReason(ending: CloseRequest | null, serverClosing: boolean): DisconnectReason {
  if (ending === null) return serverClosing ? 'server_closed' : 'client_closed';
  switch (ending.code) {
    case 'heartbeat_timeout':
    case 'slow_consumer':
    case 'token_expired':
    case 'replaced':
      return ending.code;
    case 'shutting_down':
      return 'drained';
    default:
      return 'disconnected';
  }
}

/**
 * Turns what happens in the hub into lifecycle events, in the order it happens. Channel events
 * wait for the occupancy store's numbers (a Redis round trip on several nodes); events after
 * them wait their turn, so a disconnect never overtakes the unsubscribes before it.
 */
export class Lifecycle {
  private readonly clients = new WeakMap<LifecycleClient, ClientState>();
  private readonly slots: Slot[] = [];

  constructor(
    private readonly node: string,
    private readonly options: LifecycleOptions,
    private readonly report: (stage: string, error: unknown) => void,
  ) {}

  start(): void {
    this.options.occupancy.watch({
      lost: (loss) => this.lost(loss),
      crossed: (channel, occupied, seq) => this.crossed(channel, occupied, seq),
    });
  }

  connected(client: LifecycleClient): void {
    const state: ClientState = { clientId: client.id, user: client.userId, seq: 1 };
    this.clients.set(client, state);
    const event = this.base('connect', state, null, Date.now());
    this.emit([{ ...event, clientSeq: 1, transport: client.transport }]);
    this.options.occupancy
      .clientOpened({ clientId: state.clientId, user: state.user })
      .catch((error) => this.report('lifecycle client', error));
  }

  subscribed(client: LifecycleClient, channel: string): void {
    this.turn(client, channel, 'subscribe');
  }

  unsubscribed(client: LifecycleClient, channel: string): void {
    this.turn(client, channel, 'unsubscribe');
  }

  disconnected(client: LifecycleClient, ending: CloseRequest | null, serverClosing: boolean): void {
    const state = this.clients.get(client);
    if (!state) return;
    this.clients.delete(client);
    state.seq += 1;
    const event = this.base('disconnect', state, null, Date.now());
    this.emit([
      {
        ...event,
        clientSeq: state.seq,
        reason: disconnectReason(ending, serverClosing),
        code: ending?.code ?? null,
      },
    ]);
    this.options.occupancy
      .clientClosed(state.clientId)
      .catch((error) => this.report('lifecycle client', error));
  }

  /** A publication accepted by the broker; `by` is the publishing client, if a client published. */
  published(publication: Publication, by: { clientId: string | null; user: string | null } | null): void {
    const { listener, publishEvents } = this.options;
    if (!publishEvents || !listener.wants(publication.channel)) return;
    this.emit([
      {
        id: randomUUID(),
        type: 'publish',
        time: publication.time,
        node: this.node,
        clientId: by?.clientId ?? null,
        user: by?.user ?? null,
        channel: publication.channel,
        clientSeq: null,
        channelSeq: null,
        offset: publication.offset,
        epoch: publication.epoch,
      },
    ]);
  }

  /** Another node died: its clients' disconnects (the channels it held alone follow as crossings). */
  private lost(loss: NodeLoss): void {
    const time = Date.now();
    const events: LifecycleEvent[] = loss.clients.map((client) => ({
      // Fixed ids: a loss told on two nodes is deduplicated by the receiver.
      id: `lost:${loss.node}:${client.clientId}`,
      type: 'disconnect',
      time,
      node: loss.node,
      clientId: client.clientId,
      user: client.user,
      channel: null,
      clientSeq: null,
      channelSeq: null,
      reason: 'node_lost',
      code: null,
    }));
    this.emit(events);
  }

  /** A zero crossing the occupancy store found after the fact (e.g. from periodic reports). */
  crossed(channel: string, occupied: boolean, seq: number): void {
    if (!this.options.occupancy.clusterWide || !this.options.listener.wants(channel)) return;
    const type = occupied ? 'channel_occupied' : 'channel_vacated';
    // A fixed id: a crossing told on two nodes is deduplicated by the receiver.
    this.emit([
      { ...this.base(type, null, channel, Date.now()), id: `${type}:${channel}:${seq}`, channelSeq: seq },
    ]);
  }

  private turn(client: LifecycleClient, channel: string, type: 'subscribe' | 'unsubscribe'): void {
    const state = this.clients.get(client);
    if (!state || !this.options.listener.wants(channel)) return;
    state.seq += 1;
    const time = Date.now();
    const event = { ...this.base(type, state, channel, time), clientSeq: state.seq };
    const { occupancy } = this.options;
    const counting =
      type === 'subscribe'
        ? occupancy.join(channel, state.clientId)
        : occupancy.leave(channel, state.clientId);
    this.emit(
      counting.then(
        ({ seq, edgeSeq, occupied }): LifecycleEvent[] => {
          if (!occupancy.clusterWide) return [event];
          const own = { ...event, channelSeq: seq };
          if (edgeSeq === null) return [own];
          const edgeType = occupied ? 'channel_occupied' : 'channel_vacated';
          // The same id on every node that could tell it, as for crossings told by `crossed`.
          const edge: LifecycleEvent = {
            ...this.base(edgeType, null, channel, time),
            id: `${edgeType}:${channel}:${edgeSeq}`,
            channelSeq: edgeSeq,
          };
          return occupied ? [edge, own] : [own, edge];
        },
        (error: unknown): LifecycleEvent[] => {
          this.report('lifecycle occupancy', error);
          return [event];
        },
      ),
    );
  }

  private base<T extends LifecycleEventType>(
    type: T,
    client: ClientState | null,
    channel: string | null,
    time: number,
  ) {
    return {
      id: randomUUID(),
      type,
      time,
      node: this.node,
      clientId: client?.clientId ?? null,
      user: client?.user ?? null,
      channel,
      clientSeq: null,
      channelSeq: null,
    };
  }

  /** Hands events to the listener in order: now, or once everything before them is ready. */
  private emit(events: readonly LifecycleEvent[] | Promise<readonly LifecycleEvent[]>): void {
    if (!(events instanceof Promise) && this.slots.length === 0) {
      this.deliver(events);
      return;
    }
    const slot: Slot = { events: null };
    this.slots.push(slot);
    void Promise.resolve(events).then((ready) => {
      slot.events = ready;
      this.release();
    });
  }

  private release(): void {
    while (this.slots.length > 0 && this.slots[0]!.events !== null) {
      this.deliver(this.slots.shift()!.events!);
    }
  }

  private deliver(events: readonly LifecycleEvent[]): void {
    for (const event of events) {
      try {
        this.options.listener.event(event);
      } catch (error) {
        this.report('lifecycle listener', error);
      }
    }
  }
}
