import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PushwireError } from '../../protocol/index.ts';
import type { RouteEntry } from '../routes.ts';

interface PageFile {
  readonly path: string;
  /** Where it is on disk. */
  readonly file: () => string;
  readonly contentType: string;
}

const here = (name: string) => () => fileURLToPath(new URL(`./page/${name}`, import.meta.url));
/** uPlot from the package (pinned in package.json), served by Pushwire itself: no CDN. */
const uplot = (name: string) => () => createRequire(import.meta.url).resolve(`uplot/dist/${name}`);

// A fixed list of paths, matched exactly: a request can never name another file.
const FILES: readonly PageFile[] = [
  { path: '/admin', file: here('index.html'), contentType: 'text/html; charset=utf-8' },
  { path: '/admin/admin.js', file: here('admin.js'), contentType: 'text/javascript; charset=utf-8' },
  { path: '/admin/admin.css', file: here('admin.css'), contentType: 'text/css; charset=utf-8' },
  {
    path: '/admin/uplot.js',
    file: uplot('uPlot.iife.min.js'),
    contentType: 'text/javascript; charset=utf-8',
  },
  { path: '/admin/uplot.css', file: uplot('uPlot.min.css'), contentType: 'text/css; charset=utf-8' },
];

/**
 * Everything comes from this server: the page may load nothing else, and no other page may
 * frame it (the admin key is typed into it).
 */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/** The dashboard at /admin: a page, its script and style, and uPlot. Off without an admin key. */
export function dashboardRoutes(enabled: boolean): RouteEntry[] {
  const cache = new Map<string, Buffer>();
  return FILES.map((page) => [
    page.path,
    {
      method: 'GET',
      handler: ({ res }) => {
        if (!enabled)
          throw new PushwireError('not_found', 'the dashboard is off: start the server with --admin-key');
        let body = cache.get(page.path);
        if (!body) {
          body = readFileSync(page.file());
          cache.set(page.path, body);
        }
        res.writeHead(200, {
          ...PAGE_HEADERS,
          'Content-Type': page.contentType,
          'Content-Length': body.length,
        });
        res.end(body);
      },
    },
  ]);
}
