import { Agent, type ClientRequestArgs, request } from 'node:http';
import { connect, createServer, type Server, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';

/**
 * How a drop treats the server's half of the connection:
 * - `cut`: the client's socket is destroyed (no close frame, no last request): the server's
 *   kernel sees the FIN at once, as after a client crash or a closed laptop lid with Wi-Fi on;
 * - `silent`: the network vanished (mobile, NAT timeout): nothing reaches the server, whose
 *   half stays open, its writes accepted by a peer that never reads them again.
 */
export type DropMode = 'cut' | 'silent';

/**
 * Connections the proxy's kernel queues before it accepts them, as the server's own listener
 * does. The proxy stands in for the network: with Node's default (511) a busy generator let
 * the queue fill, the kernel dropped SYNs, and clients waited out TCP's 1, 3, 7 s retransmits,
 * a delay no real network path adds. The kernel caps it at net.core.somaxconn.
 */
const PROXY_BACKLOG = 4096;

/**
 * A loopback TCP proxy in front of the server for `silent` drops: the client's side of a
 * connection can be cut while the server's side is left open and never read again, as a
 * network that vanished leaves it (the server sees neither FIN nor RST). Connections are
 * known by the client socket's address and port.
 */
export class BlackholeProxy {
  private readonly pairs = new Map<string, [Socket, Socket]>();
  /** Server sides left open; destroyed only when the proxy closes. */
  private readonly abandoned = new Set<Socket>();
  private server: Server | null = null;
  port = 0;

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      // From the client's own address: the proxy's upstream ports are spread like the clients'.
      const upstream = connect({
        port: this.upstreamPort,
        host: '127.0.0.1',
        localAddress: client.remoteAddress,
      });
      const key = `${client.remoteAddress}:${client.remotePort}`;
      this.pairs.set(key, [client, upstream]);
      const drop = () => {
        if (this.pairs.get(key)?.[0] !== client) return;
        this.pairs.delete(key);
        client.destroy();
        if (!this.abandoned.has(upstream)) upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.server = server;
    await new Promise<void>((resolve) =>
      server.listen({ port: 0, host: '127.0.0.1', backlog: PROXY_BACKLOG }, resolve),
    );
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  /** The server's side of the client socket bound to `address:port` goes silent: never read or closed. */
  abandon(address: string, port: number): void {
    const pair = this.pairs.get(`${address}:${port}`);
    if (!pair) return;
    const [client, upstream] = pair;
    this.abandoned.add(upstream);
    client.unpipe(upstream);
    upstream.unpipe(client);
    upstream.pause();
    upstream.on('close', () => this.abandoned.delete(upstream));
  }

  close(): Promise<void> {
    for (const [client, upstream] of this.pairs.values()) {
      client.destroy();
      upstream.destroy();
    }
    for (const upstream of this.abandoned) upstream.destroy();
    this.abandoned.clear();
    const server = this.server;
    return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

/**
 * The error of a connection tried while the network is down. Without stack frames: clients
 * retry several times a second during an outage, and Node reads the stack of every error a
 * socket is destroyed with, which formatting a stack makes a visible part of the load
 * generator's work.
 */
function networkDown(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const error = Object.assign(new Error('connect ENETUNREACH (the network is down)'), {
    code: 'ENETUNREACH',
  });
  Error.stackTraceLimit = limit;
  return error;
}

/**
 * One client's network: every socket its WebSocket, EventSource and fetch open goes through
 * `connect`, so a drop can destroy them all, and while the network is down new ones fail at
 * once (as on a phone whose radio is off: ENETUNREACH, not a hanging SYN).
 */
export class ClientNetwork {
  private readonly sockets = new Set<Socket>();
  private downUntil = 0;
  /** Keep-alive connections for long polls and streams, made by `connect`. */
  readonly agent: Agent;

  constructor(
    private readonly port: number,
    /** The client's own source address (see clientAddress in drops.ts). */
    private readonly localAddress: string,
    private readonly proxy: BlackholeProxy | null,
  ) {
    const agent = new Agent({ keepAlive: true });
    agent.createConnection = () => this.connect();
    this.agent = agent;
  }

  connect(): Socket {
    if (Date.now() < this.downUntil) {
      const socket = new Socket();
      process.nextTick(() => socket.destroy(networkDown()));
      return socket;
    }
    const socket = connect({ port: this.port, host: '127.0.0.1', localAddress: this.localAddress });
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    return socket;
  }

  /** The network goes away for `awayMs`: every open socket dies without a word. */
  drop(awayMs: number): void {
    this.downUntil = Date.now() + awayMs;
    for (const socket of this.sockets) {
      if (this.proxy && socket.localPort !== undefined)
        this.proxy.abandon(this.localAddress, socket.localPort);
      // A RST, not a FIN: nothing about it looks like a client that closed on purpose.
      socket.resetAndDestroy();
    }
    this.sockets.clear();
  }

  close(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.agent.destroy();
  }

  /** `fetch` over this network: enough of it for the SDK's long poll and stream, and EventSource. */
  readonly fetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const options: ClientRequestArgs = { method: init?.method ?? 'GET', headers, agent: this.agent };
      const req = request(url, options, (res) => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (typeof value === 'string') responseHeaders.set(name, value);
          else if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item);
        }
        const body = res.statusCode === 204 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
        resolve(new Response(body, { status: res.statusCode ?? 500, headers: responseHeaders }));
      });
      const signal = init?.signal;
      // As fetch does, the request fails with the signal's reason (an AbortError unless the
      // caller gave its own).
      const abort = () => req.destroy(signal?.reason);
      if (signal?.aborted) abort();
      // The SDK's long poll shares one signal between its polls: leave it as found.
      signal?.addEventListener('abort', abort, { once: true });
      req.on('close', () => signal?.removeEventListener('abort', abort));
      req.on('error', reject);
      req.end(typeof init?.body === 'string' ? init.body : undefined);
    });
  };

  /** A WebSocket class whose connections go over this network. */
  webSocketClass(): new (url: string) => WebSocket {
    const network = this;
    return class extends WebSocket {
      constructor(url: string) {
        super(url, { createConnection: () => network.connect(), perMessageDeflate: false });
      }
    };
  }

  /** An EventSource class whose requests go over this network. */
  eventSourceClass(): new (url: string) => EventSource {
    const network = this;
    return class extends EventSource {
      constructor(url: string) {
        super(url, { fetch: network.fetch as typeof globalThis.fetch });
      }
    };
  }
}
