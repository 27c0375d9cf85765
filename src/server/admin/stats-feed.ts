import type { ChannelOptions, Hub } from '../../core/index.ts';
import type { ClusterNode } from '../cluster-node.ts';
import type { NodeStats } from './node-stats.ts';

/** Where every node publishes its snapshot for the dashboard (readable with an operator token only). */
export const STATS_CHANNEL = '$admin:stats';
/** How often a node publishes while someone watches. */
export const STATS_INTERVAL_MS = 2000;

/**
 * The server's own channels: history enough for the dashboard to draw the last minutes when
 * it opens (10 minutes of one node), never written by clients, no presence.
 */
export const SYSTEM_CHANNEL_OPTIONS: ChannelOptions = Object.freeze({
  historySize: 300,
  historyTtlMs: 600_000,
  clientPublish: false,
  presence: false,
});

/**
 * Publishes this node's snapshot on `$admin:stats` every interval, but only while someone
 * watches it on some node (a dashboard is open): otherwise it costs nothing but a look at the
 * hub (and, on Redis, one read of the channel's count) per interval.
 */
export class StatsFeed {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly hub: Hub,
    private readonly stats: NodeStats,
    private readonly node: ClusterNode,
    private readonly report: (stage: string, error: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), STATS_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.busy || !this.hub.running) return;
    this.busy = true;
    try {
      if (!(await this.watched())) return;
      const snapshot = await this.stats.snapshot(true);
      await this.hub.publish(STATS_CHANNEL, JSON.stringify(snapshot));
    } catch (error) {
      this.report('stats feed', error);
    } finally {
      this.busy = false;
    }
  }

  private async watched(): Promise<boolean> {
    if (this.hub.subscriberCount(STATS_CHANNEL) > 0) return true;
    const { channels } = await this.node.cluster.channels({ prefix: STATS_CHANNEL, limit: 1 });
    return channels[0]?.channel === STATS_CHANNEL;
  }
}
