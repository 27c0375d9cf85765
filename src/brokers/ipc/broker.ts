import { randomBytes } from 'node:crypto';
import { ERROR_CODES, type ErrorCode, type Publication, PushwireError } from '../../protocol/index.ts';
import type {
  Broker,
  BrokerCluster,
  BrokerHandler,
  ChannelPage,
  ChannelQuery,
  ChannelTurn,
  ClientRoster,
  ClusterHandler,
  ClusterRequest,
  ClusterView,
  HistoryQuery,
  HistoryResult,
  Logger,
  NodeInfo,
  NodeLease,
  NodeReply,
  PresenceInfo,
  PresenceStore,
  PublishOptions,
  RevocationStore,
} from '../types.ts';
import { type CallOp, type HostMessage, isHostMessage, type WorkerMessage } from './messages.ts';

/** The worker's end of the IPC channel to the primary (in a cluster worker: `process`). */
export interface IpcLink {
  send(message: WorkerMessage): void;
  /** Calls `listener` with every message from the primary; returns the undo. */
  onMessage(listener: (message: unknown) => void): () => void;
}

export interface IpcBrokerOptions {
  readonly link: IpcLink;
  readonly logger?: Logger;
  /** A call the primary doesn't answer within this long fails with broker_unavailable. */
  readonly callTimeoutMs?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  readonly timer: NodeJS.Timeout;
}

const CALL_TIMEOUT_MS = 10_000;

/**
 * A worker's broker: every call goes to the BrokerHost in the primary process, which keeps
 * the streams of all workers. The primary sends each publication once to this worker, and
 * the hub here fans it out to its own subscribers.
 */
export class IpcBroker implements Broker, BrokerCluster {
  readonly presence: PresenceStore;
  readonly cluster: ClusterView;
  /** Names this broker on the link, which other brokers in the same process may share. */
  private readonly id = randomBytes(6).toString('base64url');
  private readonly link: IpcLink;
  private readonly log: Logger;
  private readonly callTimeoutMs: number;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private handler: BrokerHandler | null = null;
  private clusterHandler: ClusterHandler | null = null;
  private detach: (() => void) | null = null;
  private closed = false;

  constructor(options: IpcBrokerOptions) {
    this.link = options.link;
    this.log = options.logger ?? (() => {});
    this.callTimeoutMs = options.callTimeoutMs ?? CALL_TIMEOUT_MS;
    const call = this.call.bind(this);
    this.presence = {
      join: (channel, info, ttlMs) => call('presence.join', channel, info, ttlMs).then(() => {}),
      leave: (channel, clientId) => call('presence.leave', channel, clientId).then(() => {}),
      list: (channel) => call('presence.list', channel) as Promise<PresenceInfo[]>,
    };
    this.cluster = new IpcClusterView(call, (handler) => {
      this.clusterHandler = handler;
    });
  }

  async start(handler: BrokerHandler): Promise<void> {
    this.handler = handler;
    this.detach = this.link.onMessage((message) => {
      if (isHostMessage(message)) this.receive(message);
    });
  }

  async publish(channel: string, data: string, options: PublishOptions): Promise<Publication> {
    return (await this.call('publish', channel, data, options)) as Publication;
  }

  async subscribe(channel: string): Promise<void> {
    await this.call('subscribe', channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    if (this.closed) return;
    await this.call('unsubscribe', channel);
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    return (await this.call('history', channel, query)) as HistoryResult;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.cluster.leave().catch(() => {});
    await this.call('close').catch(() => {});
    this.closed = true;
    this.handler = null;
    this.clusterHandler = null;
    this.detach?.();
    this.detach = null;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new PushwireError('broker_unavailable', 'the broker is closed'));
      this.pending.delete(id);
    }
  }

  private call(op: CallOp, ...args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new PushwireError('broker_unavailable', 'the broker is closed'));
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new PushwireError(
            'broker_unavailable',
            `the primary did not answer ${op} within ${this.callTimeoutMs} ms`,
          ),
        );
      }, this.callTimeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.link.send({ pw: 'call', link: this.id, id, op, args });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(id);
        const why = error instanceof Error ? error.message : String(error);
        reject(new PushwireError('broker_unavailable', `the primary is unreachable: ${why}`));
      }
    });
  }

  private receive(message: HostMessage): void {
    switch (message.pw) {
      case 'publication':
        if (message.links.includes(this.id)) this.deliver(message.publication);
        return;
      case 'result': {
        if (message.link !== this.id) return;
        const pending = this.pending.get(message.id);
        if (!pending) return;
        this.pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.value);
        else pending.reject(new PushwireError(errorCode(message.code), message.message));
        return;
      }
      case 'bus':
        if (message.link === this.id) this.answerBus(message.id, message.request);
        return;
      case 'lost':
        if (message.link === this.id) {
          this.clusterHandler?.nodeLost({
            node: message.lost.node,
            channels: new Map(message.lost.channels),
            clients: message.lost.clients,
          });
        }
        return;
      case 'occupancy':
        if (message.link === this.id) this.clusterHandler?.occupancy(message.change);
        return;
    }
  }

  /** A throwing handler is the node's failure: reported, and later deliveries go on. */
  private deliver(publication: Publication): void {
    try {
      this.handler?.publication(publication);
    } catch (error) {
      this.log('error', `publication handler failed on ${publication.channel}`, error);
    }
  }

  private answerBus(id: number, request: ClusterRequest): void {
    const handler = this.clusterHandler;
    const reply = (body: WorkerMessage & { pw: 'bus-reply' }) => {
      try {
        this.link.send(body);
      } catch {
        // The primary is gone: nobody waits for the reply.
      }
    };
    if (!handler) {
      reply({ pw: 'bus-reply', link: this.id, id, reply: { ok: false, error: 'the node has not joined' } });
      return;
    }
    Promise.resolve()
      .then(() => handler.request(request))
      .then(
        (body) => reply({ pw: 'bus-reply', link: this.id, id, reply: { ok: true, body } }),
        (error: unknown) =>
          reply({
            pw: 'bus-reply',
            link: this.id,
            id,
            reply: { ok: false, error: error instanceof Error ? error.message : String(error) },
          }),
      );
  }
}

function errorCode(code: string): ErrorCode {
  return Object.hasOwn(ERROR_CODES, code) ? (code as ErrorCode) : 'internal';
}

type Call = (op: CallOp, ...args: unknown[]) => Promise<unknown>;

/** The workers of one primary as a cluster: every call is answered by the primary's HostCluster. */
class IpcClusterView implements ClusterView {
  readonly revocations: RevocationStore;
  readonly clients: ClientRoster;
  private joined = false;
  private left = false;

  constructor(
    private readonly call: Call,
    private readonly setHandler: (handler: ClusterHandler) => void,
  ) {
    this.revocations = {
      add: (userId, atMs, ttlMs) => call('revocations.add', userId, atMs, ttlMs).then(() => {}),
      list: async () => new Map((await call('revocations.list')) as [string, number][]),
    };
    this.clients = {
      add: (client) => call('cluster.clients.add', client).then(() => {}),
      remove: (clientId) => call('cluster.clients.remove', clientId).then(() => {}),
    };
  }

  async join(self: NodeInfo, handler: ClusterHandler): Promise<void> {
    this.setHandler(handler);
    await this.call('cluster.join', self);
    this.joined = true;
  }

  nodes(): Promise<NodeLease[]> {
    return this.call('cluster.nodes') as Promise<NodeLease[]>;
  }

  async report(counts: ReadonlyMap<string, number>): Promise<void> {
    await this.call('cluster.report', [...counts]);
  }

  turn(channel: string, count: number): Promise<ChannelTurn> {
    return this.call('cluster.turn', channel, count) as Promise<ChannelTurn>;
  }

  channels(query: ChannelQuery): Promise<ChannelPage> {
    return this.call('cluster.channels', query) as Promise<ChannelPage>;
  }

  broadcast(request: ClusterRequest, timeoutMs: number): Promise<NodeReply[]> {
    return this.call('cluster.broadcast', request, timeoutMs) as Promise<NodeReply[]>;
  }

  async leave(): Promise<void> {
    if (!this.joined || this.left) return;
    this.left = true;
    await this.call('cluster.leave');
  }
}
