import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a server, that a test can turn against its clients:
 * cut every open connection (a network drop), freeze them (a dead peer that never closes:
 * only a heartbeat watchdog notices), refuse WebSocket upgrades (a proxy that doesn't pass
 * them), or point at another upstream port (a restarted server).
 */
export interface ClientProxy {
  readonly url: string;
  readonly port: number;
  /** Connections that came through so far. */
  accepted(): number;
  /** Destroys both sides of every open connection; new ones are let through. */
  cutAll(): void;
  /** Stops forwarding on every open connection without closing it; new ones are let through. */
  freezeAll(): void;
  /**
   * A network that drops without a FIN: the client's side of every open connection is cut,
   * the server's side is left open and never read again, as a vanished peer leaves it.
   */
  abandonAll(): void;
  refuseWebSocket(refuse: boolean): void;
  setUpstream(port: number): void;

  close(): Promise<void>;
}

const UPGRADE = /^upgrade:\s*websocket/im;

export async function startClientProxy(upstreamPort: number): Promise<ClientProxy> {
  let upstream = upstreamPort;
  let refuse = false;
  let accepted = 0;
  const sockets = new Set<Socket>();
  const open = new Set<[Socket, Socket]>();
  const frozen = new Set<[Socket, Socket]>();
  const abandoned = new Set<[Socket, Socket]>();
  const server = createServer((client) => {
    accepted++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.once('data', (first) => {
      if (refuse && UPGRADE.test(first.toString('latin1'))) {
        client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      const target = connect(upstream, '127.0.0.1');
      const pair: [Socket, Socket] = [client, target];
      open.add(pair);
      const drop = () => {
        if (abandoned.has(pair)) return;
        open.delete(pair);
        client.destroy();
        target.destroy();
      };
      target.on('error', drop).on('close', drop);
      client.on('error', drop).on('close', drop);
      target.write(first);
      client.pipe(target);
      target.pipe(client);
    });
    client.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const cutAll = () => {
    for (const [client, target] of open) {
      client.destroy();
      target.destroy();
    }
    open.clear();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    accepted: () => accepted,
    cutAll,
    freezeAll() {
      for (const [client, target] of open) {
        client.unpipe(target);
        target.unpipe(client);
        client.pause();
        target.pause();
        frozen.add([client, target]);
      }
      open.clear();
    },
    abandonAll() {
      for (const pair of open) {
        const [client, target] = pair;
        client.unpipe(target);
        target.unpipe(client);
        target.pause();
        abandoned.add(pair);
        client.destroy();
      }
      open.clear();
    },
    refuseWebSocket(value) {
      refuse = value;
    },
    setUpstream(port) {
      upstream = port;
    },
    async close() {
      cutAll();
      for (const socket of sockets) socket.destroy();
      for (const [client, target] of [...frozen, ...abandoned]) {
        client.destroy();
        target.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
