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
 * credentials`); without, it is open (no admin key set, or served on the internal port).
 */
export function metricsRoutes(scrape: () => Promise<string>, keys: ApiKeys | null): RouteEntry[] {
  return [
    [
      '/metrics',
      {
        method: 'GET',
        handler: async ({ req, res, headers }) => {
          keys?.require(req, 'admin');
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
