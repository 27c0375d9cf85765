import { type Publication, PushwireError } from '../../protocol/index.ts';
import { MemoryBroker, type MemoryBrokerOptions, type MemoryBrokerStats } from '../memory.ts';
import type { HistoryQuery, Logger, PresenceInfo, PublishOptions } from '../types.ts';
import { HostCluster } from './host-cluster.ts';
import { type CallOp, type HostMessage, isWorkerMessage, type WorkerMessage } from './messages.ts';

/** One worker process as the host reaches it (a cluster Worker, a forked child). */
export interface HostPort {
  send(message: HostMessage): void;
}

/** One IpcBroker in a worker: what it subscribed to and joined. */
export interface HostLink {
  readonly id: string;
  readonly port: HostPort;
  readonly channels: Set<string>;
}

interface PresenceEntry {
  readonly info: PresenceInfo;
  readonly expiresAt: number;
  readonly link: string;
}

/**
 * The primary's side of the IPC broker: one MemoryBroker holds every channel's offsets,
 * epochs and history for all workers, so that any worker can resume any client, and a worker
 * that dies takes nothing with it. Publications go to each worker once, whatever the number
 * of its subscribers: the worker's hub does the fan-out.
 */
export class BrokerHost {
  private readonly broker: MemoryBroker;
  private readonly links = new Map<string, HostLink>();
  /** Channel -> the links subscribed to it. */
  private readonly subscribers = new Map<string, Set<HostLink>>();
  private readonly presence = new Map<string, Map<string, PresenceEntry>>();
  private readonly cluster: HostCluster;
  private readonly log: Logger;

  /** `options` are those of the one MemoryBroker that holds every worker's channels. */
  constructor(options: MemoryBrokerOptions = {}) {
    this.log = options.logger ?? (() => {});
    this.broker = new MemoryBroker({ ...options, logger: this.log });
    this.cluster = new HostCluster(this.log);
  }

  async start(): Promise<void> {
    await this.broker.start({ publication: (p) => this.deliver(p), recovered: () => {} });
  }

  /** Hands the host a message a port sent; anything not meant for the host is ignored. */
  receive(port: HostPort, message: unknown): void {
    if (!isWorkerMessage(message)) return;
    if (message.pw === 'bus-reply') {
      this.cluster.busReply(message.link, message.id, message.reply);
      return;
    }
    const link = this.linkOf(port, message.link);
    this.call(link, message).then(
      (value) => safeSend(port, { pw: 'result', link: link.id, id: message.id, ok: true, value }),
      (error: unknown) => {
        const code = error instanceof PushwireError ? error.code : 'internal';
        const text = error instanceof Error ? error.message : String(error);
        safeSend(port, { pw: 'result', link: link.id, id: message.id, ok: false, code, message: text });
      },
    );
  }

  /**
   * The port's process is gone (crashed, killed, or exited): its subscriptions and presence
   * entries go, and its nodes are reported lost to a live one unless they left first.
   */
  portGone(port: HostPort): void {
    for (const link of [...this.links.values()]) {
      if (link.port !== port) continue;
      this.dropLink(link);
      this.cluster.lose(link.id);
    }
  }

  /** The history the primary holds for every worker, against its caps. */
  stats(): MemoryBrokerStats {
    return this.broker.stats();
  }

  async close(): Promise<void> {
    await this.broker.close();
  }

  private linkOf(port: HostPort, id: string): HostLink {
    let link = this.links.get(id);
    if (!link || link.port !== port) {
      link = { id, port, channels: new Set() };
      this.links.set(id, link);
    }
    return link;
  }

  private async call(link: HostLink, { op, args }: Extract<WorkerMessage, { pw: 'call' }>): Promise<unknown> {
    // The worker side (IpcBroker) is this code base's own: its arguments are trusted like a function's.
    const a = args as [never, never, never];
    switch (op as CallOp) {
      case 'publish':
        return this.broker.publish(a[0], a[1], a[2] as PublishOptions);
      case 'subscribe':
        return this.subscribe(link, a[0]);
      case 'unsubscribe':
        return this.unsubscribe(link, a[0]);
      case 'history':
        return this.broker.history(a[0], a[1] as HistoryQuery);
      case 'presence.join':
        return this.presenceJoin(link, a[0], a[1], a[2]);
      case 'presence.leave':
        return this.presenceLeave(a[0], a[1]);
      case 'presence.list':
        return this.presenceList(a[0]);
      case 'close':
        this.dropLink(link);
        return null;
      case 'cluster.join':
        return this.cluster.join(link, a[0]);
      case 'cluster.nodes':
        return this.cluster.nodes();
      case 'cluster.report':
        return this.cluster.report(link.id, new Map(a[0] as [string, number][]));
      case 'cluster.turn':
        return this.cluster.turn(link.id, a[0], a[1]);
      case 'cluster.clients.add':
        return this.cluster.addClient(link.id, a[0]);
      case 'cluster.clients.remove':
        return this.cluster.removeClient(link.id, a[0]);
      case 'cluster.channels':
        return this.cluster.channels(a[0]);
      case 'cluster.broadcast':
        return this.cluster.broadcast(a[0], a[1]);
      case 'cluster.leave':
        return this.cluster.leave(link.id);
      case 'revocations.add':
        return this.cluster.revocations.add(a[0], a[1], a[2]);
      case 'revocations.list':
        return [...(await this.cluster.revocations.list())];
      default:
        throw new PushwireError('internal', `unknown broker call "${String(op)}"`);
    }
  }

  private async subscribe(link: HostLink, channel: string): Promise<null> {
    let links = this.subscribers.get(channel);
    if (!links) {
      links = new Set();
      this.subscribers.set(channel, links);
      await this.broker.subscribe(channel);
    }
    links.add(link);
    link.channels.add(channel);
    return null;
  }

  private async unsubscribe(link: HostLink, channel: string): Promise<null> {
    link.channels.delete(channel);
    const links = this.subscribers.get(channel);
    if (!links) return null;
    links.delete(link);
    if (links.size === 0) {
      this.subscribers.delete(channel);
      await this.broker.unsubscribe(channel);
    }
    return null;
  }

  private dropLink(link: HostLink): void {
    for (const channel of [...link.channels]) void this.unsubscribe(link, channel);
    for (const [channel, entries] of this.presence) {
      for (const [clientId, entry] of entries) if (entry.link === link.id) entries.delete(clientId);
      if (entries.size === 0) this.presence.delete(channel);
    }
    this.links.delete(link.id);
  }

  /** One message per worker, naming the links of that worker that subscribed. */
  private deliver(publication: Publication): void {
    const links = this.subscribers.get(publication.channel);
    if (!links) return;
    const byPort = new Map<HostPort, string[]>();
    for (const link of links) {
      const ids = byPort.get(link.port);
      if (ids) ids.push(link.id);
      else byPort.set(link.port, [link.id]);
    }
    for (const [port, ids] of byPort) safeSend(port, { pw: 'publication', links: ids, publication });
  }

  private presenceJoin(link: HostLink, channel: string, info: PresenceInfo, ttlMs: number): null {
    let entries = this.presence.get(channel);
    if (!entries) {
      entries = new Map();
      this.presence.set(channel, entries);
    }
    entries.set(info.clientId, { info, expiresAt: Date.now() + ttlMs, link: link.id });
    return null;
  }

  private presenceLeave(channel: string, clientId: string): null {
    const entries = this.presence.get(channel);
    entries?.delete(clientId);
    if (entries?.size === 0) this.presence.delete(channel);
    return null;
  }

  private presenceList(channel: string): PresenceInfo[] {
    const entries = this.presence.get(channel);
    if (!entries) return [];
    const now = Date.now();
    const live: PresenceInfo[] = [];
    for (const [clientId, entry] of entries) {
      if (entry.expiresAt <= now) entries.delete(clientId);
      else live.push(entry.info);
    }
    if (entries.size === 0) this.presence.delete(channel);
    return live;
  }
}

/** A worker that is exiting can't take a message: that is its loss, not the host's failure. */
function safeSend(port: HostPort, message: HostMessage): void {
  try {
    port.send(message);
  } catch {
    // The exit event that follows drops the port.
  }
}
