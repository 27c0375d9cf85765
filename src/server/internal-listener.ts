import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Router } from './routes.ts';
import { displayHost } from './standalone.ts';

export interface InternalListener {
  readonly url: string;
  /** Stops listening and cuts its connections (the dashboard's feed among them). */
  close(): Promise<void>;
}

/**
 * The second listener of `--internal-port`: /metrics, the admin API and the dashboard, on an
 * address an operator keeps private, served by a router of its own. Pushwire creates it, so
 * Pushwire closes it.
 */
export async function listenInternal(router: Router, host: string, port: number): Promise<InternalListener> {
  const server = createServer({ keepAliveTimeout: 65_000 });
  server.on('request', (req, res) => {
    if (!router.handle(req, res)) router.notFound(req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    if (!router.handleUpgrade(req, socket, head)) router.upgradeNotFound(req, socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://${displayHost(host)}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
