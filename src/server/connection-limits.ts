import type { IncomingMessage } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import { PushwireError } from '../protocol/index.ts';

export interface ConnectionLimitOptions {
  /** Open TCP connections in all; null: no limit. */
  readonly maxConnections: number | null;
  /** Open connections of one client address; null: no limit. */
  readonly maxConnectionsPerIp: number | null;
  /** Proxies (addresses, or networks as a.b.c.d/n) whose X-Forwarded-For is believed. */
  readonly trustProxy: readonly string[];
  /** Called for each connection refused, with the cap it hit. */
  readonly refused: (reason: 'max_connections' | 'max_connections_per_ip') => void;
}

export type Admission = PushwireError | null;

/**
 * Caps on open connections, total and per client address. Every TCP connection counts, for
 * as long as it is open: idle keep-alive sockets, held long polls, SSE and streaming
 * responses, WebSockets. A connection from a trusted proxy carries many clients: it counts in
 * the total only, and each request on it counts for its client (from X-Forwarded-For) until
 * its answer ends.
 */
export class ConnectionLimits {
  private open = 0;
  private readonly perAddress = new Map<string, number>();
  private readonly proxies: BlockList | null;
  /** Each open connection's address key; none for a trusted proxy's. */
  private readonly keys = new WeakMap<Socket, string>();
  /**
   * One listener for every socket's close (`this` is the socket): a closure and a `once`
   * wrapper per socket would be kept for as long as the connection is open.
   */
  private readonly closed: (this: Socket) => void;

  constructor(private readonly options: ConnectionLimitOptions) {
    this.proxies = options.trustProxy.length === 0 ? null : blockListOf(options.trustProxy);
    const limits = this;
    this.closed = function (this: Socket) {
      limits.forget(this);
    };
  }

  /** Open TCP connections now. */
  get connections(): number {
    return this.open;
  }

  /**
   * A new TCP connection: counted until it closes. Null if it may stay, else the error to
   * answer it with (the caller answers and closes it; it is counted until then).
   */
  accept(socket: Socket): Admission {
    this.open += 1;
    const address = normalize(socket.remoteAddress ?? '');
    const proxied = this.isProxy(address);
    const key = addressKey(address);
    if (!proxied) {
      this.hold(key);
      this.keys.set(socket, key);
    }
    // 'close' is emitted once per socket: `on` needs no wrapper.
    socket.on('close', this.closed);
    const { maxConnections, maxConnectionsPerIp } = this.options;
    if (maxConnections !== null && this.open > maxConnections) return this.refuse('max_connections');
    if (!proxied && maxConnectionsPerIp !== null && (this.perAddress.get(key) ?? 0) > maxConnectionsPerIp) {
      return this.refuse('max_connections_per_ip');
    }
    return null;
  }

  /**
   * A request (or upgrade) on a connection from a trusted proxy: counted for its client until
   * `done` fires. Null where it may go on (always, for requests not from a trusted proxy: their
   * connection was counted when it opened).
   */
  admit(req: IncomingMessage, done: (release: () => void) => void): Admission {
    const peer = normalize(req.socket.remoteAddress ?? '');
    if (!this.isProxy(peer)) return null;
    const client = addressKey(this.clientAddress(req));
    this.hold(client);
    let released = false;
    done(() => {
      if (released) return;
      released = true;
      this.release(client);
    });
    const cap = this.options.maxConnectionsPerIp;
    if (cap !== null && (this.perAddress.get(client) ?? 0) > cap)
      return this.refuse('max_connections_per_ip');
    return null;
  }

  /**
   * The client's address: the peer's, unless the peer is a trusted proxy. Then X-Forwarded-For
   * is read from the right (the entry the nearest proxy added) past every trusted proxy; the
   * first address that isn't one is the client. Entries further left are the client's to
   * write, so they are never believed.
   */
  clientAddress(req: IncomingMessage): string {
    let address = normalize(req.socket.remoteAddress ?? '');
    if (!this.isProxy(address)) return address;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalize(hops[i]!.trim());
      if (isIP(hop) === 0) break;
      address = hop;
      if (!this.isProxy(hop)) break;
    }
    return address;
  }

  private isProxy(address: string): boolean {
    // Asked twice for every request (admission, then the client's address): without trusted
    // proxies, the default, that is all it costs.
    if (this.proxies === null) return false;
    const family = isIP(address);
    if (family === 0) return false;
    return this.proxies.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }

  /** The connection of `socket` closed. */
  private forget(socket: Socket): void {
    this.open -= 1;
    const key = this.keys.get(socket);
    if (key === undefined) return;
    this.keys.delete(socket);
    this.release(key);
  }

  private hold(address: string): void {
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
  }

  private release(address: string): void {
    const count = (this.perAddress.get(address) ?? 1) - 1;
    if (count <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, count);
  }

  private refuse(reason: 'max_connections' | 'max_connections_per_ip'): PushwireError {
    this.options.refused(reason);
    return new PushwireError(
      'too_many_connections',
      reason === 'max_connections'
        ? 'the server holds as many connections as it may: retry later'
        : 'this address holds as many connections as it may: close some, or retry later',
    );
  }
}

/** An IPv4 address the dual-stack socket reports as `::ffff:a.b.c.d` is `a.b.c.d`. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * What the per-address cap counts by: an IPv4 address, or an IPv6 address's /64 network. One
 * host usually holds a whole /64 and may pick any address in it, so counting single IPv6
 * addresses would cap nobody.
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  // An embedded IPv4 tail (::ffff:1.2.3.4 forms other than the mapped one) takes two groups.
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Entries as --trust-proxy takes them: addresses, or networks `address/prefix`. */
export function blockListOf(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}
