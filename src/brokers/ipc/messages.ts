import type { Publication } from '../../protocol/index.ts';
import type { ClusterRequest, ConnectedClient, LostNode, NodeReply, OccupancyChange } from '../types.ts';

/**
 * What travels between a worker's IpcBroker and the BrokerHost in the primary. Every message
 * carries `pw` so that other users of the same IPC channel (prom-client's cluster metrics,
 * the supervisor's own messages) can tell it apart. A worker process may hold several brokers
 * (the contract tests do): each is a `link`, named by the broker.
 */
export type WorkerMessage =
  | {
      readonly pw: 'call';
      readonly link: string;
      readonly id: number;
      readonly op: CallOp;
      readonly args: unknown[];
    }
  | { readonly pw: 'bus-reply'; readonly link: string; readonly id: number; readonly reply: BusReply };

export type HostMessage =
  | {
      readonly pw: 'result';
      readonly link: string;
      readonly id: number;
      readonly ok: true;
      readonly value: unknown;
    }
  | {
      readonly pw: 'result';
      readonly link: string;
      readonly id: number;
      readonly ok: false;
      readonly code: string;
      readonly message: string;
    }
  /** Sent once per worker whatever the number of its links (or subscribers) that want it. */
  | { readonly pw: 'publication'; readonly links: readonly string[]; readonly publication: Publication }
  | { readonly pw: 'bus'; readonly link: string; readonly id: number; readonly request: ClusterRequest }
  | { readonly pw: 'lost'; readonly link: string; readonly lost: WireLostNode }
  | { readonly pw: 'occupancy'; readonly link: string; readonly change: OccupancyChange };

export type BusReply =
  | { readonly ok: true; readonly body: unknown }
  | { readonly ok: false; readonly error: string };

/** A LostNode as JSON can carry it. */
export interface WireLostNode {
  readonly node: LostNode['node'];
  readonly channels: ReadonlyArray<readonly [string, number]>;
  readonly clients: readonly ConnectedClient[];
}

export type CallOp =
  | 'publish'
  | 'subscribe'
  | 'unsubscribe'
  | 'history'
  | 'presence.join'
  | 'presence.leave'
  | 'presence.list'
  | 'close'
  | 'cluster.join'
  | 'cluster.nodes'
  | 'cluster.report'
  | 'cluster.turn'
  | 'cluster.clients.add'
  | 'cluster.clients.remove'
  | 'cluster.channels'
  | 'cluster.broadcast'
  | 'cluster.leave'
  | 'revocations.add'
  | 'revocations.list';

export type { NodeReply };

export function isWorkerMessage(message: unknown): message is WorkerMessage {
  const pw = (message as { pw?: unknown } | null)?.pw;
  return pw === 'call' || pw === 'bus-reply';
}

export function isHostMessage(message: unknown): message is HostMessage {
  const pw = (message as { pw?: unknown } | null)?.pw;
  return pw === 'result' || pw === 'publication' || pw === 'bus' || pw === 'lost' || pw === 'occupancy';
}
