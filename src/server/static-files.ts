import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { PushwireError } from '../protocol/index.ts';
import { sendError } from '../transports/index.ts';

export type Route = readonly [
  path: string,
  { method: string; handler: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void },
];

/** The browser client bundles, built into dist/ by the package's build. */
const BUNDLES = ['pushwire.js', 'pushwire.global.js'] as const;

/** Finds a file of dist/ whether this module runs from src/server (tsx) or dist/server. */
function distFile(name: string): string | null {
  for (const candidate of [`../../dist/${name}`, `../${name}`]) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  return null;
}

/** Serves the client bundle at stable paths, read once and kept in memory. */
export class StaticFiles {
  private readonly cache = new Map<string, Buffer>();

  routes(prefix: string): Route[] {
    return BUNDLES.map((name) => [
      `${prefix}/${name}`,
      { method: 'GET', handler: (_req, res) => this.serve(res, name) },
    ]);
  }

  private serve(res: ServerResponse, name: string): void {
    let body = this.cache.get(name);
    if (!body) {
      const path = distFile(name);
      if (!path) {
        sendError(res, new PushwireError('not_found', `${name} is not built: run npm run build`));
        return;
      }
      body = readFileSync(path);
      this.cache.set(name, body);
    }
    res.writeHead(200, {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Content-Length': body.length,
      'Cache-Control': 'public, max-age=300',
    });
    res.end(body);
  }
}
