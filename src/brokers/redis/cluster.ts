import { randomBytes } from 'node:crypto';
import { messageOf } from '../local-cluster.ts';
import type {
  ChannelCount,
  ChannelPage,
  ChannelQuery,
  ClusterHandler,
  ClusterRequest,
  ClusterView,
  Logger,
  NodeInfo,
  NodeLease,
  NodeReply,
  RevocationStore,
} from '../types.ts';
import type { RedisClient } from './connection.ts';
import { type ClusterKeys, channelKeys, clusterKeys } from './keys.ts';
import { SCRIPTS } from './scripts.ts';

/** What the cluster view needs of the broker that holds it. */
export interface ClusterRoute {
  readonly prefix: string;
  /** The connection of the shard that holds the control plane (leases, index, bus). */
  readonly control: RedisClient;
  /** The connection of the shard that holds `channel`'s keys. */
  commandFor(channel: string): RedisClient;
  /** Subscribes the control shard's subscriber to the bus; its messages reach `busMessage`. */
  listen(name: string): Promise<void>;
  unlisten(name: string): Promise<void>;
  /** PUBLISH, or SPUBLISH on a Redis Cluster. */
  publish(name: string, payload: string): Promise<unknown>;
  /** Runs a Redis call within the command timeout; failures become broker_unavailable. */
  guard<T>(operation: string, work: () => Promise<T>): Promise<T>;
  readonly log: Logger;
  readonly leaseMs: number;
}

type BusEnvelope =
  | { k: 'q'; id: string; from: string; type: string; body: unknown }
  | { k: 'r'; id: string; to: string; node: string; ok: boolean; body?: unknown; error?: string };

interface PendingBroadcast {
  readonly waiting: Set<string>;
  readonly replies: NodeReply[];
  done(): void;
}

/**
 * Redis pages of occupied channels are read this many names at a time, as many times at
 * most, while the names read turn out empty (counts of nodes that just left).
 */
const SCAN_ROUNDS = 8;

/**
 * The cluster view of a Redis deployment.
 *
 * - Leases: every node renews its entry in one ZSET (expiry by Redis's clock) every third of
 *   the lease. At each renewal it also claims nodes whose lease ran out (a script removes them,
 *   so one node claims each), reports them lost and removes their counts.
 * - Counts: each channel's HASH nodeId -> count sits in the channel's own slot (so a script can
 *   tell 0 -> n and n -> 0 apart atomically, on Redis Cluster too); an index ZSET of occupied
 *   channels, ordered by name, pages them; each node keeps its counts in a HASH of its own for
 *   whoever finds it lost.
 * - Bus: one pub/sub channel; requests name their sender, replies their addressee.
 */
export class RedisCluster implements ClusterView {
  readonly revocations: RevocationStore;
  private readonly keys: ClusterKeys;
  private readonly pending = new Map<string, PendingBroadcast>();
  private self: NodeInfo | null = null;
  private handler: ClusterHandler | null = null;
  private timer: NodeJS.Timeout | null = null;
  private renewals = 0;
  private state: 'new' | 'joined' | 'left' = 'new';

  constructor(private readonly route: ClusterRoute) {
    this.keys = clusterKeys(route.prefix);
    this.revocations = new RedisRevocations(route, this.keys.revoked);
  }

  /** The name of the bus, so the broker can hand its messages here. */
  get busName(): string {
    return this.keys.bus;
  }

  async join(self: NodeInfo, handler: ClusterHandler): Promise<void> {
    if (this.state !== 'new') throw new Error('RedisCluster.join() is called once');
    this.self = self;
    this.handler = handler;
    this.state = 'joined';
    await this.route.guard('cluster join', () => this.route.listen(this.keys.bus));
    await this.renew();
    this.timer = setInterval(() => void this.tick(), Math.max(100, Math.floor(this.route.leaseMs / 3)));
    this.timer.unref();
  }

  async nodes(): Promise<NodeLease[]> {
    const { leases, infos } = this.keys;
    const reply = (await this.route.guard('cluster nodes', () =>
      SCRIPTS.nodeList.run(this.route.control, [leases, infos], []),
    )) as Array<string | null>;
    const nodes: NodeLease[] = [];
    for (let i = 0; i < reply.length; i += 3) {
      const info = parseInfo(reply[i]!, reply[i + 2] ?? null);
      nodes.push({ ...info, leaseExpiresAt: Number(reply[i + 1]) });
    }
    return nodes.sort((a, b) => compare(a.id, b.id));
  }

  async report(counts: ReadonlyMap<string, number>): Promise<void> {
    const self = this.self;
    if (!self || counts.size === 0) return;
    await this.setCounts(self.id, counts);
    const positive = [...counts].filter(([, count]) => count > 0);
    const gone = [...counts.keys()].filter((channel) => counts.get(channel) === 0);
    const own = this.keys.nodeChannels(self.id);
    await this.route.guard('cluster report', async () => {
      if (positive.length > 0) await this.route.control.hset(own, Object.fromEntries(positive));
      if (gone.length > 0) await this.route.control.hdel(own, ...gone);
    });
  }

  async channels({ prefix = '', after, limit }: ChannelQuery): Promise<ChannelPage> {
    const live = new Set((await this.nodes()).map((node) => node.id));
    const max = prefix === '' ? '+' : `[${prefix}\xff`;
    let min = after !== undefined && after >= prefix ? `(${after}` : `[${prefix}`;
    const found: ChannelCount[] = [];
    const batch = Math.min(1000, limit + 1);
    for (let round = 0; round < SCAN_ROUNDS; round++) {
      const names = await this.route.guard('cluster channels', () =>
        this.route.control.zrangebylex(this.keys.active, min, max, 'LIMIT', 0, batch),
      );
      const totals = await Promise.all(names.map((name) => this.liveTotal(name, live)));
      for (let i = 0; i < names.length; i++) {
        if (totals[i]! > 0) found.push({ channel: names[i]!, subscribers: totals[i]! });
        else this.forgetIfEmpty(names[i]!, live);
      }
      if (found.length > limit) {
        const page = found.slice(0, limit);
        return { channels: page, next: page[page.length - 1]!.channel };
      }
      if (names.length < batch) return { channels: found, next: null };
      min = `(${names[names.length - 1]!}`;
    }
    // Many names in a row without subscribers: say where the next page goes on.
    return { channels: found, next: min.slice(1) };
  }

  async broadcast(request: ClusterRequest, timeoutMs: number): Promise<NodeReply[]> {
    const self = this.self;
    if (!self) return [];
    const nodes = await this.nodes();
    const id = randomBytes(9).toString('base64url');
    const waiting = new Set(nodes.map((node) => node.id));
    const replies: NodeReply[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finished = new Promise<void>((resolve) => {
      this.pending.set(id, { waiting, replies, done: resolve });
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      const envelope: BusEnvelope = { k: 'q', id, from: self.id, type: request.type, body: request.body };
      await this.route.guard('cluster broadcast', () =>
        this.route.publish(this.keys.bus, JSON.stringify(envelope)),
      );
      if (waiting.size > 0) await finished;
    } finally {
      clearTimeout(timer);
      this.pending.delete(id);
    }
    for (const node of waiting) replies.push({ node, ok: false, error: `no reply within ${timeoutMs} ms` });
    return replies.sort((a, b) => compare(a.node, b.node));
  }

  async leave(): Promise<void> {
    if (this.state !== 'joined') {
      this.state = 'left';
      return;
    }
    this.state = 'left';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const self = this.self!;
    try {
      const own = await this.ownCounts(self.id);
      await this.setCounts(self.id, new Map([...own.keys()].map((channel) => [channel, 0])));
      const { leases, infos } = this.keys;
      await this.route.guard('cluster leave', async () => {
        await this.route.control.multi().zrem(leases, self.id).hdel(infos, self.id).exec();
        await this.route.control.del(this.keys.nodeChannels(self.id));
      });
    } catch (error) {
      // Its lease runs out instead, and another node reports it lost.
      this.route.log('warn', 'leaving the cluster failed', error);
    }
    this.handler = null;
    await this.route.unlisten(this.keys.bus).catch(() => {});
  }

  /** A message on the bus (from the broker's subscriber connection). */
  busMessage(payload: string): void {
    let envelope: BusEnvelope;
    try {
      envelope = JSON.parse(payload) as BusEnvelope;
    } catch {
      this.route.log('error', 'undecodable message on the cluster bus');
      return;
    }
    if (envelope.k === 'q') void this.answer(envelope);
    else this.collect(envelope);
  }

  private async answer(request: Extract<BusEnvelope, { k: 'q' }>): Promise<void> {
    const { self, handler } = this;
    if (!self || !handler) return;
    let reply: BusEnvelope;
    try {
      const body = await handler.request({ type: request.type, body: request.body });
      reply = { k: 'r', id: request.id, to: request.from, node: self.id, ok: true, body };
    } catch (error) {
      reply = { k: 'r', id: request.id, to: request.from, node: self.id, ok: false, error: messageOf(error) };
    }
    try {
      await this.route.guard('cluster reply', () => this.route.publish(this.keys.bus, JSON.stringify(reply)));
    } catch {
      // guard logged it; the requester reports the missing reply.
    }
  }

  private collect(reply: Extract<BusEnvelope, { k: 'r' }>): void {
    if (reply.to !== this.self?.id) return;
    const pending = this.pending.get(reply.id);
    if (!pending?.waiting.delete(reply.node)) return;
    pending.replies.push(
      reply.ok
        ? { node: reply.node, ok: true, body: reply.body }
        : { node: reply.node, ok: false, error: reply.error ?? 'failed' },
    );
    if (pending.waiting.size === 0) pending.done();
  }

  private async tick(): Promise<void> {
    if (this.state !== 'joined') return;
    try {
      await this.renew();
      await this.claimLost();
    } catch {
      // guard logged it; the next tick tries again.
    }
  }

  private async renew(): Promise<void> {
    const self = this.self!;
    const { leases, infos } = this.keys;
    const added = await this.route.guard('cluster lease', () =>
      SCRIPTS.nodeLease.run(
        this.route.control,
        [leases, infos],
        [self.id, JSON.stringify(self), this.route.leaseMs],
      ),
    );
    if (added === 1 && this.renewals > 0) {
      // Cut off past its lease: another node reported it lost and removed its counts.
      this.route.log('warn', `this node's cluster lease ran out; it is back, and its counts are restored`);
      const own = await this.ownCounts(self.id);
      await this.setCounts(self.id, own);
    }
    this.renewals++;
  }

  private async claimLost(): Promise<void> {
    const { leases, infos } = this.keys;
    const reply = (await this.route.guard('cluster claim', () =>
      SCRIPTS.nodeClaimLost.run(this.route.control, [leases, infos], []),
    )) as Array<string | null>;
    for (let i = 0; i < reply.length; i += 2) {
      const node = parseInfo(reply[i]!, reply[i + 1] ?? null);
      const channels = await this.ownCounts(node.id);
      this.route.log('warn', `cluster node ${node.id} (${node.host}) lost: its lease ran out`);
      try {
        this.handler?.nodeLost({ node, channels });
      } catch (error) {
        this.route.log('error', 'nodeLost handler failed', error);
      }
      await this.setCounts(node.id, new Map([...channels.keys()].map((channel) => [channel, 0])));
      await this.route.guard('cluster claim', () => this.route.control.del(this.keys.nodeChannels(node.id)));
    }
  }

  /** The counts a node last reported, from its own HASH. */
  private async ownCounts(nodeId: string): Promise<Map<string, number>> {
    const fields = await this.route.guard('cluster counts', () =>
      this.route.control.hgetall(this.keys.nodeChannels(nodeId)),
    );
    return new Map(Object.entries(fields).map(([channel, count]) => [channel, Number(count)]));
  }

  /** Writes `nodeId`'s counts to each channel, reports 0 <-> n changes, updates the index. */
  private async setCounts(nodeId: string, counts: ReadonlyMap<string, number>): Promise<void> {
    const entries = [...counts];
    const results = await Promise.all(
      entries.map(([channel, count]) =>
        this.route.guard('cluster count', () =>
          SCRIPTS.occupancy.run(
            this.route.commandFor(channel),
            [channelKeys(this.route.prefix, channel).occupancy],
            [nodeId, count],
          ),
        ),
      ),
    );
    const occupied: string[] = [];
    const vacated: string[] = [];
    entries.forEach(([channel], i) => {
      const [before, after] = results[i] as [number, number];
      // Every occupied channel is added again, not only on a change: the index mends itself.
      if (after > 0) occupied.push(channel);
      else if (before > 0) vacated.push(channel);
      if ((before === 0) !== (after === 0)) this.tellOccupancy(channel, after > 0);
    });
    const { active } = this.keys;
    await this.route.guard('cluster index', async () => {
      if (occupied.length > 0)
        await this.route.control.zadd(active, ...occupied.flatMap((name) => [0, name]));
      if (vacated.length > 0) await this.route.control.zrem(active, ...vacated);
    });
  }

  private tellOccupancy(channel: string, occupied: boolean): void {
    try {
      this.handler?.occupancy({ channel, occupied });
    } catch (error) {
      this.route.log('error', 'occupancy handler failed', error);
    }
  }

  private async liveTotal(channel: string, live: ReadonlySet<string>): Promise<number> {
    const key = channelKeys(this.route.prefix, channel).occupancy;
    const fields = await this.route.guard('cluster channels', () =>
      this.route.commandFor(channel).hgetall(key),
    );
    let total = 0;
    for (const [node, count] of Object.entries(fields)) if (live.has(node)) total += Number(count);
    return total;
  }

  /**
   * An index entry whose channel has no count of a live node (a node left or was lost before
   * its counts were removed) is dropped. If a node occupies the channel at the same moment,
   * its next report of the channel adds it back.
   */
  private forgetIfEmpty(channel: string, live: ReadonlySet<string>): void {
    const key = channelKeys(this.route.prefix, channel).occupancy;
    void this.route
      .guard('cluster index', async () => {
        const nodes = await this.route.commandFor(channel).hkeys(key);
        if (!nodes.some((node) => live.has(node))) await this.route.control.zrem(this.keys.active, channel);
      })
      .catch(() => {});
  }
}

class RedisRevocations implements RevocationStore {
  constructor(
    private readonly route: ClusterRoute,
    private readonly key: string,
  ) {}

  async add(userId: string, atMs: number, ttlMs: number): Promise<void> {
    await this.route.guard('revocation add', () =>
      this.route.control
        .multi()
        .zadd(this.key, 'GT', atMs, userId)
        .zremrangebyscore(this.key, '-inf', `(${Date.now() - ttlMs}`)
        .pexpire(this.key, ttlMs)
        .exec(),
    );
  }

  async list(): Promise<Map<string, number>> {
    const flat = await this.route.guard('revocation list', () =>
      this.route.control.zrange(this.key, 0, -1, 'WITHSCORES'),
    );
    const entries = new Map<string, number>();
    for (let i = 0; i < flat.length; i += 2) entries.set(flat[i]!, Number(flat[i + 1]));
    return entries;
  }
}

function parseInfo(id: string, json: string | null): NodeInfo {
  try {
    if (json) return { ...(JSON.parse(json) as NodeInfo), id };
  } catch {
    // An entry written by something else: list the node by its id alone.
  }
  return { id, version: 'unknown', startedAt: 0, host: 'unknown' };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
