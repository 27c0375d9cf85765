import { PushwireError } from '../protocol/index.ts';
import { ChannelCounts } from './channel-counts.ts';
import type {
  ChannelPage,
  ChannelQuery,
  ChannelTurn,
  ClientRoster,
  ClusterHandler,
  ClusterRequest,
  ClusterView,
  NodeInfo,
  NodeLease,
  NodeReply,
  RevocationStore,
} from './types.ts';

/** What `nodes()` says of the lease of a node that needs none: it is renewed as it is read. */
const NOMINAL_LEASE_MS = 15_000;

/** Nothing to remember: a cluster of one never loses a node to another. */
const NO_ROSTER: ClientRoster = { add: async () => {}, remove: async () => {} };

/** The counts of the one node, whatever its id. */
const SELF = 'self';

/**
 * The cluster of one node: the embedded default, and what a broker without a cluster view of
 * its own gets. Nothing is lost when its node dies, so it never reports a lost node.
 */
export class LocalCluster implements ClusterView {
  readonly revocations: RevocationStore;
  readonly clients = NO_ROSTER;
  private self: NodeInfo | null = null;
  private handler: ClusterHandler | null = null;
  private readonly counts = new ChannelCounts();
  private closed = false;

  constructor() {
    this.revocations = new LocalRevocations(() => this.assertOpen());
  }

  async join(self: NodeInfo, handler: ClusterHandler): Promise<void> {
    this.assertOpen();
    this.self = self;
    this.handler = handler;
  }

  async nodes(): Promise<NodeLease[]> {
    this.assertOpen();
    return this.self ? [{ ...this.self, leaseExpiresAt: Date.now() + NOMINAL_LEASE_MS }] : [];
  }

  async report(counts: ReadonlyMap<string, number>): Promise<void> {
    this.assertOpen();
    for (const [channel, count] of counts) {
      const { edgeSeq } = this.counts.set(SELF, channel, count, false);
      if (edgeSeq !== null) this.handler?.occupancy({ channel, occupied: count > 0, seq: edgeSeq });
    }
  }

  async turn(channel: string, count: number): Promise<ChannelTurn> {
    this.assertOpen();
    return this.counts.set(SELF, channel, count, true);
  }

  async channels({ prefix = '', after, limit }: ChannelQuery): Promise<ChannelPage> {
    this.assertOpen();
    const names = [...this.counts.names()]
      .filter((name) => name.startsWith(prefix) && (after === undefined || name > after))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const page = names.slice(0, limit);
    return {
      channels: page.map((channel) => ({ channel, subscribers: this.counts.total(channel) })),
      next: names.length > limit ? page[page.length - 1]! : null,
    };
  }

  async broadcast(request: ClusterRequest, timeoutMs: number): Promise<NodeReply[]> {
    this.assertOpen();
    const { self, handler } = this;
    if (!self || !handler) return [];
    return [await answer(self.id, handler, request, timeoutMs)];
  }

  async leave(): Promise<void> {
    this.closed = true;
    this.handler = null;
    this.counts.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new PushwireError('broker_unavailable', 'the cluster view is closed');
  }
}

/** The handler's answer to `request` as a node's reply; never rejects. */
export async function answer(
  node: string,
  handler: ClusterHandler,
  request: ClusterRequest,
  timeoutMs: number,
): Promise<NodeReply> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<NodeReply>((resolve) => {
    timer = setTimeout(
      () => resolve({ node, ok: false, error: `no reply within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  const work = Promise.resolve()
    .then(() => handler.request(request))
    .then(
      (body): NodeReply => ({ node, ok: true, body }),
      (error: unknown): NodeReply => ({ node, ok: false, error: messageOf(error) }),
    );
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

class LocalRevocations implements RevocationStore {
  private readonly entries = new Map<string, { at: number; until: number }>();

  constructor(private readonly assertOpen: () => void) {}

  async add(userId: string, atMs: number, ttlMs: number): Promise<void> {
    this.assertOpen();
    const known = this.entries.get(userId);
    if (known && known.at >= atMs) return;
    this.entries.set(userId, { at: atMs, until: atMs + ttlMs });
  }

  async list(): Promise<Map<string, number>> {
    this.assertOpen();
    const now = Date.now();
    const live = new Map<string, number>();
    for (const [user, { at, until }] of this.entries) {
      if (until <= now) this.entries.delete(user);
      else live.set(user, at);
    }
    return live;
  }
}
