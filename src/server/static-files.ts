import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { PushwireError } from '../protocol/index.ts';
import { sendError } from '../transports/index.ts';

export type Route = readonly [
  path: string,
  { method: string; handler: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void },
];

interface StaticFile {
  /** Where the file is served, under the prefix. */
  readonly path: string;
  /** Where it is on disk: the first of these, relative to this module, that exists. */
  readonly candidates: readonly string[];
  readonly contentType: string;
  readonly cacheControl: string;
}

const JS = 'text/javascript; charset=utf-8';

// Run from src/server (tsx) the bundles are in ../../dist; run from dist/server, in ../.
const BUNDLES: readonly StaticFile[] = ['pushwire.js', 'pushwire.global.js'].map((name) => ({
  path: `/${name}`,
  candidates: [`../../dist/${name}`, `../${name}`],
  contentType: JS,
  cacheControl: 'public, max-age=300',
}));

// The demo sits beside this module in both layouts (scripts/copy-assets.mjs copies it to dist).
// A fixed list of paths, matched exactly: a request can never name another file.
const DEMO: readonly StaticFile[] = [
  { path: '/', name: 'index.html', contentType: 'text/html; charset=utf-8' },
  { path: '/demo.js', name: 'demo.js', contentType: JS },
].map(({ path, name, contentType }) => ({
  path,
  candidates: [`./demo/${name}`],
  contentType,
  cacheControl: 'no-cache',
}));

export interface StaticFilesOptions {
  /** Serve the demo game at `/` and `/demo.js`. */
  readonly demo: boolean;
}

/** Serves the client bundles (and the demo) at stable paths, read once and kept in memory. */
export class StaticFiles {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly options: StaticFilesOptions = { demo: false }) {}

  routes(prefix: string): Route[] {
    const files = this.options.demo ? [...BUNDLES, ...DEMO] : BUNDLES;
    return files.map((file) => [
      `${prefix}${file.path}`,
      { method: 'GET', handler: (_req, res) => this.serve(res, file) },
    ]);
  }

  private serve(res: ServerResponse, file: StaticFile): void {
    let body = this.cache.get(file.path);
    if (!body) {
      const path = findFile(file.candidates);
      if (!path) {
        sendError(res, new PushwireError('not_found', `${file.path} is not built: run npm run build`));
        return;
      }
      body = readFileSync(path);
      this.cache.set(file.path, body);
    }
    res.writeHead(200, {
      'Content-Type': file.contentType,
      'Content-Length': body.length,
      'Cache-Control': file.cacheControl,
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(body);
  }
}

function findFile(candidates: readonly string[]): string | null {
  for (const candidate of candidates) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  return null;
}
