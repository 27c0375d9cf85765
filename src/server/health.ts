import { Registry } from 'prom-client';
import type { Hub } from '../core/index.ts';
import { PushwireError } from '../protocol/index.ts';
import { sendJson } from '../transports/index.ts';
import type { ApiKeys } from './api-keys.ts';
import type { RouteEntry } from './routes.ts';

export interface HealthDeps {
  readonly hub: Hub;
  /** False while draining or while the broker is down. */
  readonly ready: () => boolean;
}

/** `/healthz` (the process serves) and `/readyz` (it should get traffic). */
export function healthRoutes({ hub, ready }: HealthDeps): RouteEntry[] {
  return [
    ['/healthz', { method: 'GET', handler: (x) => sendJson(x.res, 200, '{"status":"ok"}', x.headers) }],
    [
      '/readyz',
      {
        method: 'GET',
        handler: (x) => {
          if (ready()) return sendJson(x.res, 200, '{"status":"ready"}', x.headers);
          throw new PushwireError(hub.running ? 'broker_unavailable' : 'shutting_down');
        },
      },
    ],
  ];
}

/**
 * `/metrics`. With `keys`, a scrape needs the admin key (Prometheus: `authorization:
 * credentials`). Without, on the internal port it is open; on the public port (no admin key
 * set) only to loopback peers: counts of connections, channels and errors tell an attacker how
 * an attack is going, and which channels are busy.
 */
export function metricsRoutes(
  scrape: () => Promise<string>,
  keys: ApiKeys | null,
  loopbackOnly = false,
): RouteEntry[] {
  return [
    [
      '/metrics',
      {
        method: 'GET',
        handler: async ({ req, res, headers }) => {
          keys?.require(req, 'admin');
          if (loopbackOnly && !isLoopback(req.socket.remoteAddress)) {
            throw new PushwireError(
              'forbidden',
              '/metrics answers only this machine: set --admin-key (then scrape with it) or --internal-port',
            );
          }
          const text = await scrape();
          res.writeHead(200, {
            ...headers,
            'Content-Type': Registry.PROMETHEUS_CONTENT_TYPE,
            'Cache-Control': 'no-store',
          });
          res.end(text);
        },
      },
    ],
  ];
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}
