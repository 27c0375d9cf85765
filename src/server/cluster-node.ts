import type {
  ChannelTurn,
  ClusterView,
  LostNode,
  NodeInfo,
  NodeReply,
  OccupancyChange,
} from '../brokers/index.ts';
import type { Hub } from '../core/index.ts';
import { PushwireError } from '../protocol/index.ts';

/** Answers one type of control-bus request; the body is whatever the requester sent (untrusted JSON). */
export type ClusterRequestHandler = (body: unknown) => Promise<unknown> | unknown;

/** Local subscriber counts go to the cluster this often (only those that changed). */
const REPORT_INTERVAL_MS = 1000;
/** Every this many reports, all of them: a report that failed, or an index entry lost in a race, is mended. */
const FULL_REPORT_EVERY = 60;
/** How long a broadcast waits for the replies of every node. */
export const BROADCAST_TIMEOUT_MS = 3000;

/**
 * This node's place in the cluster: it joins the ClusterView, keeps the node's subscriber
 * counts there, and routes control-bus requests to the features that handle them (each
 * registers its request types with `handle`). Features that act on other nodes' fate
 * (webhooks) listen with `onNodeLost` and `onOccupancy`.
 */
export class ClusterNode {
  private readonly handlers = new Map<string, ClusterRequestHandler>();
  private readonly lostListeners = new Set<(lost: LostNode) => void>();
  private readonly occupancyListeners = new Set<(change: OccupancyChange) => void>();
  private timer: NodeJS.Timeout | null = null;
  /** Reports run one after another, never two at once. */
  private reporting: Promise<void> = Promise.resolve();
  private reports = 0;
  private fullReportDue = true;
  /**
   * What the cluster was last sent (by a report or a turn, in the order Redis applies them),
   * so that a count that came back to it isn't sent again. A failed send makes the next
   * report a full one.
   */
  private readonly reported = new Map<string, number>();
  private state: 'new' | 'joined' | 'left' = 'new';

  constructor(
    readonly cluster: ClusterView,
    readonly info: NodeInfo,
    private readonly hub: Hub,
    private readonly report: (stage: string, error: unknown) => void,
  ) {}

  /** Answers requests of `type` from every node (this one included). One handler per type. */
  handle(type: string, handler: ClusterRequestHandler): void {
    if (this.handlers.has(type)) throw new Error(`cluster request "${type}" already has a handler`);
    this.handlers.set(type, handler);
  }

  /** Called on the one node that finds another node's lease run out. Returns the undo. */
  onNodeLost(listener: (lost: LostNode) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /**
   * Called when a channel's cluster-wide subscriber count leaves or reaches 0, except for the
   * changes that `turn` returns. Returns the undo.
   */
  onOccupancy(listener: (change: OccupancyChange) => void): () => void {
    this.occupancyListeners.add(listener);
    return () => this.occupancyListeners.delete(listener);
  }

  async start(): Promise<void> {
    this.state = 'joined';
    await this.cluster.join(this.info, {
      request: ({ type, body }) => {
        const handler = this.handlers.get(type);
        if (!handler) return Promise.reject(new Error(`unknown cluster request "${type}"`));
        return Promise.resolve().then(() => handler(body));
      },
      nodeLost: (lost) => this.tell(this.lostListeners, lost),
      occupancy: (change) => this.tell(this.occupancyListeners, change),
    });
    this.timer = setInterval(() => void this.reportCounts(), REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  /** Sends `type` to every live node and gathers the replies (see ClusterView.broadcast). */
  broadcast(type: string, body: unknown, timeoutMs = BROADCAST_TIMEOUT_MS): Promise<NodeReply[]> {
    if (this.state !== 'joined') return Promise.reject(new PushwireError('shutting_down'));
    return this.cluster.broadcast({ type, body }, timeoutMs);
  }

  /**
   * Counts a subscribe or unsubscribe of `channel` on this node now (the hub has counted it)
   * and numbers it in the channel's sequence; see ClusterView.turn. Lifecycle events need the
   * count at once: a periodic report a second later could tell a channel vacated while a
   * subscriber that joined meanwhile is not reported yet.
   */
  async turn(channel: string): Promise<ChannelTurn> {
    if (this.state !== 'joined')
      throw new PushwireError('broker_unavailable', 'this node is not in the cluster');
    // The count is read and sent at once, like a report's: Redis applies them in that order.
    const count = this.hub.subscriberCount(channel);
    const counting = this.cluster.turn(channel, count);
    this.remember(channel, count);
    try {
      return await counting;
    } catch (error) {
      this.fullReportDue = true;
      throw error;
    }
  }

  /** Reports the counts now (tests and the stats feed want them current). */
  async flush(): Promise<void> {
    await this.reportCounts();
  }

  async stop(): Promise<void> {
    if (this.state !== 'joined') return;
    this.state = 'left';
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.cluster.leave().catch((error) => this.report('cluster leave', error));
  }

  private reportCounts(): Promise<void> {
    this.reporting = this.reporting.then(() => this.reportOnce());
    return this.reporting;
  }

  private async reportOnce(): Promise<void> {
    if (this.state !== 'joined') return;
    const full = this.fullReportDue || ++this.reports % FULL_REPORT_EVERY === 0;
    this.fullReportDue = false;
    const counts = this.hub.takeCounts(full);
    if (!full) {
      for (const [channel, count] of counts)
        if ((this.reported.get(channel) ?? 0) === count) counts.delete(channel);
    }
    if (counts.size === 0) return;
    const sending = this.cluster.report(counts);
    for (const [channel, count] of counts) this.remember(channel, count);
    try {
      await sending;
    } catch (error) {
      this.fullReportDue = true;
      this.report('cluster report', error);
    }
  }

  private remember(channel: string, count: number): void {
    if (count > 0) this.reported.set(channel, count);
    else this.reported.delete(channel);
  }

  private tell<T>(listeners: ReadonlySet<(event: T) => void>, event: T): void {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        this.report('cluster listener', error);
      }
    }
  }
}
