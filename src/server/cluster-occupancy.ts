import type { ChannelTurn } from '../brokers/index.ts';
import type { LostClient, Occupancy, OccupancyEvents } from '../core/index.ts';
import { PushwireError } from '../protocol/index.ts';
import type { ClusterNode } from './cluster-node.ts';

/**
 * Lifecycle events' occupancy over the cluster view: the one count of each channel's
 * subscribers per node (the admin API's too). Made before the hub, which needs it, and
 * attached to the cluster node once the hub is there; no session opens before.
 */
export class ClusterOccupancy implements Occupancy {
  private node: ClusterNode | null = null;
  private events: OccupancyEvents | null = null;

  /** `clusterWide`: whether the cluster view covers every node (false for a custom broker without one). */
  constructor(readonly clusterWide: boolean) {}

  attach(node: ClusterNode): void {
    this.node = node;
    node.onNodeLost((lost) => this.events?.lost({ node: lost.node.id, clients: lost.clients }));
    node.onOccupancy(({ channel, occupied, seq }) => this.events?.crossed(channel, occupied, seq));
  }

  async clientOpened(client: LostClient): Promise<void> {
    await this.joined().cluster.clients.add(client);
  }

  async clientClosed(clientId: string): Promise<void> {
    await this.joined().cluster.clients.remove(clientId);
  }

  async join(channel: string): Promise<ChannelTurn> {
    return this.joined().turn(channel);
  }

  async leave(channel: string): Promise<ChannelTurn> {
    return this.joined().turn(channel);
  }

  watch(events: OccupancyEvents): void {
    this.events = events;
  }

  private joined(): ClusterNode {
    if (!this.node) throw new PushwireError('broker_unavailable', 'this node is not in the cluster yet');
    return this.node;
  }
}
