import { createServer, type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';

/** One request that reached the server through the counter. */
export interface CountedRequest {
  readonly path: string;
  /** GET, POST, OPTIONS (a browser's CORS preflight), ... */
  readonly method: string;
  readonly query: URLSearchParams;
  readonly accept: string;
  /** True for a WebSocket upgrade. */
  readonly upgrade: boolean;
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a server that records every request and WebSocket
 * upgrade passing through it: what a test counts to prove a client does not retry in a loop.
 * Keep-alive connections carry several requests, so counting TCP connections would not do.
 */
export interface RequestCounter {
  readonly url: string;
  readonly requests: readonly CountedRequest[];
  /** Requests to `path` (e.g. `/sse`). */
  count(path: string): number;
  close(): Promise<void>;
}

export async function startRequestCounter(upstreamPort: number): Promise<RequestCounter> {
  const requests: CountedRequest[] = [];
  const sockets = new Set<Socket>();
  const record = (req: IncomingMessage, upgrade: boolean) => {
    const url = new URL(req.url ?? '/', 'http://counter.invalid');
    requests.push({
      path: url.pathname,
      method: req.method ?? 'GET',
      query: url.searchParams,
      accept: req.headers.accept ?? '',
      upgrade,
    });
  };
  const server = createServer((req, res) => {
    record(req, false);
    const upstream = request(
      { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    record(req, true);
    const target = connect(upstreamPort, '127.0.0.1');
    sockets.add(target);
    const drop = () => {
      socket.destroy();
      target.destroy();
    };
    target.on('error', drop).on('close', drop);
    socket.on('error', drop).on('close', drop);
    let head1 = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      head1 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    target.write(`${head1}\r\n`);
    target.write(head);
    socket.pipe(target).pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    count: (path) => requests.filter((r) => r.path === path).length,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
