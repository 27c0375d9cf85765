import { PushwireError } from '../../protocol/index.ts';
import { ChannelCounts } from '../channel-counts.ts';
import { LocalCluster } from '../local-cluster.ts';
import type {
  ChannelPage,
  ChannelQuery,
  ChannelTurn,
  ClusterRequest,
  ConnectedClient,
  Logger,
  NodeInfo,
  NodeLease,
  NodeReply,
  OccupancyChange,
  RevocationStore,
} from '../types.ts';
import type { HostLink } from './host.ts';
import type { BusReply } from './messages.ts';

/** Workers live as long as their IPC link: a lease is nominal, renewed as it is read. */
const NOMINAL_LEASE_MS = 15_000;

interface Member {
  readonly link: HostLink;
  readonly info: NodeInfo;
  /** Its connected clients: clientId -> user, told if it is lost. */
  readonly clients: Map<string, string | null>;
}

interface PendingBus {
  readonly node: string;
  resolve(reply: NodeReply): void;
}

/**
 * The cluster view of the workers of one primary: each worker is a node. Subscriber counts,
 * revocations and the control bus live here; a worker whose process ends without leaving is
 * reported lost to one live worker, as a Redis lease that ran out would be.
 */
export class HostCluster {
  readonly revocations: RevocationStore;
  private readonly members = new Map<string, Member>();
  /** Each channel's count per worker (by link id) and in total, with its sequence. */
  private readonly counts = new ChannelCounts();
  private readonly pending = new Map<string, PendingBus>();
  private nextBusId = 0;

  constructor(private readonly log: Logger) {
    // The store a one-node cluster keeps is exactly what a host for every worker needs.
    this.revocations = new LocalCluster().revocations;
  }

  join(link: HostLink, info: NodeInfo): null {
    this.members.set(link.id, { link, info, clients: new Map() });
    return null;
  }

  nodes(): NodeLease[] {
    const leaseExpiresAt = Date.now() + NOMINAL_LEASE_MS;
    return [...this.members.values()]
      .map(({ info }) => ({ ...info, leaseExpiresAt }))
      .sort((a, b) => compare(a.id, b.id));
  }

  report(linkId: string, counts: ReadonlyMap<string, number>): null {
    const member = this.member(linkId);
    for (const [channel, count] of counts) {
      const { edgeSeq } = this.counts.set(linkId, channel, count, false);
      if (edgeSeq !== null) this.tell(member, { channel, occupied: count > 0, seq: edgeSeq });
    }
    return null;
  }

  turn(linkId: string, channel: string, count: number): ChannelTurn {
    this.member(linkId);
    return this.counts.set(linkId, channel, count, true);
  }

  addClient(linkId: string, { clientId, user }: ConnectedClient): null {
    this.member(linkId).clients.set(clientId, user);
    return null;
  }

  removeClient(linkId: string, clientId: string): null {
    this.members.get(linkId)?.clients.delete(clientId);
    return null;
  }

  channels({ prefix = '', after, limit }: ChannelQuery): ChannelPage {
    const names = [...this.counts.names()]
      .filter((name) => name.startsWith(prefix) && (after === undefined || name > after))
      .sort(compare);
    const page = names.slice(0, limit);
    return {
      channels: page.map((channel) => ({ channel, subscribers: this.counts.total(channel) })),
      next: names.length > limit ? page[page.length - 1]! : null,
    };
  }

  async broadcast(request: ClusterRequest, timeoutMs: number): Promise<NodeReply[]> {
    const replies = await Promise.all([...this.members.values()].map((m) => this.ask(m, request, timeoutMs)));
    return replies.sort((a, b) => compare(a.node, b.node));
  }

  busReply(linkId: string, id: number, reply: BusReply): void {
    const key = `${linkId}/${id}`;
    const pending = this.pending.get(key);
    if (!pending) return;
    this.pending.delete(key);
    pending.resolve(
      reply.ok
        ? { node: pending.node, ok: true, body: reply.body }
        : { node: pending.node, ok: false, error: reply.error },
    );
  }

  leave(linkId: string): null {
    const member = this.members.get(linkId);
    if (!member) return null;
    // The leaving node is told of the channels it vacates, as on Redis; it still listens.
    this.dropCounts(linkId, member);
    this.members.delete(linkId);
    return null;
  }

  /**
   * The link's process is gone without leaving: one live node hears of it and its clients,
   * then of the channels it alone held.
   */
  lose(linkId: string): void {
    const member = this.members.get(linkId);
    if (!member) return;
    this.members.delete(linkId);
    for (const [key, pending] of this.pending) {
      if (!key.startsWith(`${linkId}/`)) continue;
      this.pending.delete(key);
      pending.resolve({ node: pending.node, ok: false, error: 'the node is gone' });
    }
    const witness = this.witness();
    if (witness) {
      this.log('warn', `node ${member.info.id} ended without leaving the cluster`);
      const channels = [...this.counts.of(linkId)];
      const clients = [...member.clients].map(([clientId, user]) => ({ clientId, user }));
      send(witness.link, {
        pw: 'lost',
        link: witness.link.id,
        lost: { node: member.info, channels, clients },
      });
    }
    this.dropCounts(linkId, this.witness());
  }

  private ask(member: Member, request: ClusterRequest, timeoutMs: number): Promise<NodeReply> {
    const id = ++this.nextBusId;
    const key = `${member.link.id}/${id}`;
    const node = member.info.id;
    return new Promise<NodeReply>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        resolve({ node, ok: false, error: `no reply within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(key, {
        node,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
      });
      send(member.link, { pw: 'bus', link: member.link.id, id, request });
    });
  }

  private member(linkId: string): Member {
    const member = this.members.get(linkId);
    if (!member) throw new PushwireError('broker_unavailable', 'this node has not joined the cluster');
    return member;
  }

  /** Removes a node's counts; the channels it alone held are told vacated to `teller`. */
  private dropCounts(linkId: string, teller: Member | undefined): void {
    const vacated = this.counts.drop(linkId);
    if (teller) for (const change of vacated) this.tell(teller, change);
  }

  /** A change between 0 and more, told to one node alone. */
  private tell(member: Member, change: OccupancyChange): void {
    send(member.link, { pw: 'occupancy', link: member.link.id, change });
  }

  private witness(): Member | undefined {
    return this.members.values().next().value;
  }
}

function send(link: HostLink, message: Parameters<HostLink['port']['send']>[0]): void {
  try {
    link.port.send(message);
  } catch {
    // A port that can't take messages is about to be dropped as gone.
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
