import { randomBytes } from 'node:crypto';
import { PushwireError } from '../../protocol/index.ts';
import { messageOf } from '../local-cluster.ts';
import type {
  ChannelCount,
  ChannelPage,
  ChannelQuery,
  ChannelTurn,
  ClientRoster,
  ClusterHandler,
  ClusterRequest,
  ClusterView,
  ConnectedClient,
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
 * A vacated channel's sequence is kept this long: long enough that a receiver has ordered what
 * came before; a channel vacated for longer starts its next run from the clock.
 */
const SEQUENCE_TTL_MS = 24 * 60 * 60 * 1000;

/** What occupancy.lua answers: totals before and after, the turn's and the crossing's numbers (0: none). */
type CountResult = [before: number, after: number, seq: number, edgeSeq: number];

/**
 * A lost node's claim lasts this many leases: its claimer tells of it and removes its counts
 * well within that, or died doing so and another node takes the claim over.
 */
const CLAIM_LEASES = 2;

/**
 * The cluster view of a Redis deployment.
 *
 * - Leases: every node renews its entry in one ZSET (expiry by Redis's clock) every third of
 *   the lease. At each renewal it also claims nodes whose lease ran out (a script moves them to
 *   a ZSET of claims, so one node claims each), reports them lost, removes their counts and
 *   then the claim. A claim not removed in time (its claimer died too) is claimed again.
 * - Counts: each channel's HASH nodeId -> count sits in the channel's own slot (so a script can
 *   tell 0 -> n and n -> 0 apart atomically, on Redis Cluster too); an index ZSET of occupied
 *   channels, ordered by name, pages them; each node keeps its counts in a HASH of its own for
 *   whoever finds it lost. The same script numbers each channel's turns and 0 crossings.
 * - Clients: each node keeps its connected clients in a HASH of its own, beside its counts, so
 *   that whoever finds it lost can tell of their disconnects.
 * - Bus: one pub/sub channel; requests name their sender, replies their addressee.
 */
export class RedisCluster implements ClusterView {
  readonly revocations: RevocationStore;
  readonly clients: ClientRoster;
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
    this.clients = new RedisRoster(route, () =>
      this.state === 'joined' ? this.keys.nodeClients(this.self!.id) : null,
    );
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
    // Both writes are sent before either is awaited: a turn made meanwhile lands after them.
    const owning = this.writeOwn(self.id, counts);
    await Promise.all([this.setCounts(self.id, counts, false), owning]);
  }

  async turn(channel: string, count: number): Promise<ChannelTurn> {
    const self = this.self;
    if (this.state !== 'joined' || !self) {
      throw new PushwireError('broker_unavailable', 'this node is not in the cluster');
    }
    const counts = new Map([[channel, count]]);
    const owning = this.writeOwn(self.id, counts);
    const [[result]] = await Promise.all([this.setCounts(self.id, counts, true), owning]);
    const [, after, seq, edgeSeq] = result!;
    return { seq, edgeSeq: edgeSeq === 0 ? null : edgeSeq, occupied: after > 0 };
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
      await this.setCounts(self.id, new Map([...own.keys()].map((channel) => [channel, 0])), false);
      const { leases, infos } = this.keys;
      await this.route.guard('cluster leave', async () => {
        await this.route.control.multi().zrem(leases, self.id).hdel(infos, self.id).exec();
        await this.route.control.del(this.keys.nodeChannels(self.id), this.keys.nodeClients(self.id));
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
        [leases, infos, this.keys.claims],
        [self.id, JSON.stringify(self), this.route.leaseMs],
      ),
    );
    if (added === 1 && this.renewals > 0) {
      // Cut off past its lease: another node reported it lost and removed its counts.
      // Its clients were told disconnected (node_lost) by the node that found it lost; those
      // still here are remembered again as they leave and come back.
      this.route.log(
        'warn',
        `this node's cluster lease ran out; it is back, and its counts are restored (its clients were reported lost)`,
      );
      const own = await this.ownCounts(self.id);
      await this.setCounts(self.id, own, false);
    }
    this.renewals++;
  }

  private async claimLost(): Promise<void> {
    const { leases, infos, claims } = this.keys;
    const reply = (await this.route.guard('cluster claim', () =>
      SCRIPTS.nodeClaimLost.run(
        this.route.control,
        [leases, infos, claims],
        [this.route.leaseMs * CLAIM_LEASES],
      ),
    )) as Array<string | null>;
    for (let i = 0; i < reply.length; i += 2) {
      const node = parseInfo(reply[i]!, reply[i + 1] ?? null);
      const channels = await this.ownCounts(node.id);
      const clients = await this.clientsOf(node.id);
      this.route.log('warn', `cluster node ${node.id} (${node.host}) lost: its lease ran out`);
      try {
        this.handler?.nodeLost({ node, channels, clients });
      } catch (error) {
        this.route.log('error', 'nodeLost handler failed', error);
      }
      // After nodeLost: the channels it held alone are vacated after its clients disconnected.
      await this.setCounts(node.id, new Map([...channels.keys()].map((channel) => [channel, 0])), false);
      await this.route.guard('cluster claim', async () => {
        await this.route.control.del(this.keys.nodeChannels(node.id), this.keys.nodeClients(node.id));
        await this.route.control.multi().zrem(claims, node.id).hdel(infos, node.id).exec();
      });
    }
  }

  /** The counts a node last reported, from its own HASH. */
  private async ownCounts(nodeId: string): Promise<Map<string, number>> {
    const fields = await this.route.guard('cluster counts', () =>
      this.route.control.hgetall(this.keys.nodeChannels(nodeId)),
    );
    return new Map(Object.entries(fields).map(([channel, count]) => [channel, Number(count)]));
  }

  /** The clients a node had added to its roster, from its own HASH. */
  private async clientsOf(nodeId: string): Promise<ConnectedClient[]> {
    const fields = await this.route.guard('cluster clients', () =>
      this.route.control.hgetall(this.keys.nodeClients(nodeId)),
    );
    return Object.entries(fields).map(([clientId, user]) => ({ clientId, user: parseUser(user) }));
  }

  /** Writes counts to the node's own HASH; sent at once (callers await it later). */
  private writeOwn(nodeId: string, counts: ReadonlyMap<string, number>): Promise<void> {
    const positive = [...counts].filter(([, count]) => count > 0);
    const gone = [...counts.keys()].filter((channel) => counts.get(channel) === 0);
    const own = this.keys.nodeChannels(nodeId);
    return this.route.guard('cluster report', async () => {
      const writes: Promise<unknown>[] = [];
      if (positive.length > 0) writes.push(this.route.control.hset(own, Object.fromEntries(positive)));
      if (gone.length > 0) writes.push(this.route.control.hdel(own, ...gone));
      await Promise.all(writes);
    });
  }

  /**
   * Writes `nodeId`'s counts to each channel, numbers them (as turns when `turn`), reports
   * 0 <-> n changes that are not a turn's, updates the index. Sends the counts at once.
   */
  private async setCounts(
    nodeId: string,
    counts: ReadonlyMap<string, number>,
    turn: boolean,
  ): Promise<CountResult[]> {
    const entries = [...counts];
    const results = (await Promise.all(
      entries.map(([channel, count]) => {
        const keys = channelKeys(this.route.prefix, channel);
        return this.route.guard('cluster count', () =>
          SCRIPTS.occupancy.run(
            this.route.commandFor(channel),
            [keys.occupancy, keys.sequence],
            [nodeId, count, turn ? 1 : 0, SEQUENCE_TTL_MS],
          ),
        );
      }),
    )) as CountResult[];
    const occupied: string[] = [];
    const vacated: string[] = [];
    entries.forEach(([channel], i) => {
      const [before, after, , edgeSeq] = results[i]!;
      // Every occupied channel is added again, not only on a change: the index mends itself.
      if (after > 0) occupied.push(channel);
      else if (before > 0) vacated.push(channel);
      if (!turn && edgeSeq !== 0) this.tellOccupancy(channel, after > 0, edgeSeq);
    });
    const { active } = this.keys;
    await this.route.guard('cluster index', async () => {
      if (occupied.length > 0)
        await this.route.control.zadd(active, ...occupied.flatMap((name) => [0, name]));
      if (vacated.length > 0) await this.route.control.zrem(active, ...vacated);
    });
    return results;
  }

  private tellOccupancy(channel: string, occupied: boolean, seq: number): void {
    try {
      this.handler?.occupancy({ channel, occupied, seq });
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

/** Keeps each client in the node's own HASH: clientId -> user id as JSON (null for none). */
class RedisRoster implements ClientRoster {
  constructor(
    private readonly route: ClusterRoute,
    /** The node's HASH; null before it joined and after it left. */
    private readonly key: () => string | null,
  ) {}

  async add({ clientId, user }: ConnectedClient): Promise<void> {
    const key = this.key();
    if (key === null) return;
    await this.route.guard('cluster clients', () =>
      this.route.control.hset(key, clientId, JSON.stringify(user)),
    );
  }

  async remove(clientId: string): Promise<void> {
    const key = this.key();
    if (key === null) return;
    await this.route.guard('cluster clients', () => this.route.control.hdel(key, clientId));
  }
}

function parseUser(json: string): string | null {
  try {
    const user: unknown = JSON.parse(json);
    return typeof user === 'string' ? user : null;
  } catch {
    return null;
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
