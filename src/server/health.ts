import type { Hub } from '../core/index.ts';
import { PushwireError } from '../protocol/index.ts';
import { sendJson } from '../transports/index.ts';
import type { Metrics } from './metrics.ts';
import type { RouteEntry } from './routes.ts';

export interface HealthDeps {
  readonly hub: Hub;
  readonly metrics: Metrics;
  /** False while draining or while the broker is down. */
  readonly ready: () => boolean;
}

/** `/healthz` (the process serves), `/readyz` (it should get traffic) and `/metrics`. */
export function healthRoutes({ hub, metrics, ready }: HealthDeps): RouteEntry[] {
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
    [
      '/metrics',
      {
        method: 'GET',
        handler: async ({ res, headers }) => {
          const text = await metrics.registry.metrics();
          res.writeHead(200, {
            ...headers,
            'Content-Type': metrics.registry.contentType,
            'Cache-Control': 'no-store',
          });
          res.end(text);
        },
      },
    ],
  ];
}
