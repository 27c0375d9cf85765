import { PushwireError } from '../../protocol/index.ts';
import { LocalCluster, SequenceClock } from '../local-cluster.ts';
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
  RevocationStore,
} from '../types.ts';
import type { HostLink } from './host.ts';
import type { BusReply } from './messages.ts';

/** Workers live as long as their IPC link: a lease is nominal, renewed as it is read. */
const NOMINAL_LEASE_MS = 15_000;

interface Member {
  readonly link: HostLink;
  readonly info: NodeInfo;
  readonly counts: Map<string, number>;
  readonly clients: Map<string, ConnectedClient>;
}

interface Total {
  subscribers: number;
  /** The last number of the channel's sequence given out. */
  seq: number;
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
  /** Channel -> subscribers on every worker together, and its sequence (see ClusterView.turn). */
  private readonly totals = new Map<string, Total>();
  private readonly clock = new SequenceClock();
  private readonly pending = new Map<string, PendingBus>();
  private nextBusId = 0;

  constructor(private readonly log: Logger) {
    // The store a one-node cluster keeps is exactly what a host for every worker needs.
    this.revocations = new LocalCluster().revocations;
  }

  join(link: HostLink, info: NodeInfo): null {
    this.members.set(link.id, { link, info, counts: new Map(), clients: new Map() });
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
    for (const [channel, count] of counts) this.set(member, channel, count, false);
    return null;
  }

  turn(linkId: string, channel: string, count: number): ChannelTurn {
    return this.set(this.member(linkId), channel, count, true);
  }

  addClient(linkId: string, client: ConnectedClient): null {
    this.member(linkId).clients.set(client.clientId, client);
    return null;
  }

  removeClient(linkId: string, clientId: string): null {
    this.members.get(linkId)?.clients.delete(clientId);
    return null;
  }

  channels({ prefix = '', after, limit }: ChannelQuery): ChannelPage {
    const names = [...this.totals.keys()]
      .filter((name) => name.startsWith(prefix) && (after === undefined || name > after))
      .sort(compare);
    const page = names.slice(0, limit);
    return {
      channels: page.map((channel) => ({ channel, subscribers: this.totals.get(channel)!.subscribers })),
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
    this.members.delete(linkId);
    this.dropCounts(member);
    return null;
  }

  /** The link's process is gone without leaving: one live node hears of it. */
  lose(linkId: string): void {
    const member = this.members.get(linkId);
    if (!member) return;
    const channels = [...member.counts];
    const clients = [...member.clients.values()];
    this.leave(linkId);
    for (const [key, pending] of this.pending) {
      if (!key.startsWith(`${linkId}/`)) continue;
      this.pending.delete(key);
      pending.resolve({ node: pending.node, ok: false, error: 'the node is gone' });
    }
    const witness = this.witness();
    if (!witness) return;
    this.log('warn', `node ${member.info.id} ended without leaving the cluster`);
    send(witness.link, { pw: 'lost', link: witness.link.id, lost: { node: member.info, channels, clients } });
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

  /** A left or lost worker's counts leave the totals; a crossing is told to one live worker. */
  private dropCounts(member: Member): void {
    const witness = this.witness();
    for (const [channel, count] of member.counts) {
      const total = this.totals.get(channel);
      if (!total) continue;
      const edge = this.change(channel, total, total.subscribers - count, false);
      if (edge.edgeSeq !== null && witness) this.tell(witness, channel, edge);
    }
    member.counts.clear();
  }

  /**
   * Sets `member`'s count of `channel` and numbers the turn (when `turn`) and the crossing of
   * 0, in the order they happened, as LocalCluster does for one node. A crossing made by a
   * report is told to the reporting worker; a turn returns it.
   */
  private set(member: Member, channel: string, count: number, turn: boolean): ChannelTurn {
    const before = member.counts.get(channel) ?? 0;
    if (count > 0) member.counts.set(channel, count);
    else member.counts.delete(channel);
    const known = this.totals.get(channel);
    const subscribers = (known?.subscribers ?? 0) + count - before;
    if (!known && subscribers <= 0) {
      return { seq: turn ? this.clock.next() : 0, edgeSeq: null, occupied: false };
    }
    const result = this.change(
      channel,
      known ?? { subscribers: 0, seq: this.clock.next() - 1 },
      subscribers,
      turn,
    );
    if (!turn && result.edgeSeq !== null) this.tell(member, channel, result);
    return result;
  }

  private change(channel: string, total: Total, subscribers: number, turn: boolean): ChannelTurn {
    const occupied = subscribers > 0;
    const crossed = total.subscribers > 0 !== occupied;
    const take = () => ++total.seq;
    let seq = 0;
    let edgeSeq: number | null = null;
    if (crossed && occupied) edgeSeq = take();
    if (turn) seq = take();
    if (crossed && !occupied) edgeSeq = take();
    this.clock.saw(total.seq);
    total.subscribers = subscribers;
    if (occupied) this.totals.set(channel, total);
    else this.totals.delete(channel);
    return { seq, edgeSeq, occupied };
  }

  private tell(member: Member, channel: string, { edgeSeq, occupied }: ChannelTurn): void {
    const change = { channel, occupied, seq: edgeSeq! };
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
