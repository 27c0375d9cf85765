import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, gzip, constants as zlib } from 'node:zlib';
import { PushwireError } from '../protocol/index.ts';
import { sendError } from '../transports/index.ts';
import { acceptedEncoding, type Encoding, notModified } from './http-caching.ts';

export type Route = readonly [
  path: string,
  {
    method: string;
    handler: (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void> | void;
  },
];

interface StaticFile {
  /** Where the file is served, under the prefix. */
  readonly path: string;
  /** Where it is on disk: the first of these, relative to this module, that exists. */
  readonly candidates: readonly string[];
  readonly contentType: string;
  /** Without `?v=<package version>`; with it, a bundle is cached for a year. */
  readonly cacheControl: string;
}

/** A file as served: its bytes, each encoding of them (when smaller) and its validators. */
interface Prepared {
  readonly bodies: Readonly<Partial<Record<Encoding | 'identity', Buffer>>>;
  /** Strong: a hash of the content, with the encoding appended (each is its own representation). */
  readonly hash: string;
  readonly lastModified: string;
}

const JS = 'text/javascript; charset=utf-8';
/** `?v=<package version>` names one build for good: caches may keep it as long as they like. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

// Run from src/server (tsx) the bundles are in ../../dist; run from dist/server, in ../.
const bundle = (name: string, cacheControl: string): StaticFile => ({
  path: `/${name}`,
  candidates: [`../../dist/${name}`, `../${name}`],
  contentType: JS,
  cacheControl,
});
// Five minutes: an upgrade reaches pages soon; `?v=` is the way to cache for longer.
const BUNDLES: readonly StaticFile[] = [
  bundle('pushwire.js', 'public, max-age=300'),
  bundle('pushwire.global.js', 'public, max-age=300'),
];

// The demo sits beside this module in both layouts (scripts/copy-assets.mjs copies it to dist).
// A fixed list of paths, matched exactly: a request can never name another file. `no-cache`:
// always revalidated (a 304 when unchanged), so an edited demo shows at the next reload.
const DEMO: readonly StaticFile[] = [
  ...[
    { path: '/', name: 'index.html', contentType: 'text/html; charset=utf-8' },
    { path: '/demo.js', name: 'demo.js', contentType: JS },
  ].map(({ path, name, contentType }) => ({
    path,
    candidates: [`./demo/${name}`],
    contentType,
    cacheControl: 'no-cache',
  })),
  // The transport names and aliases the server and SDK accept, for the demo's own checks.
  bundle('transport-names.js', 'no-cache'),
];

export interface StaticFilesOptions {
  /** Serve the demo game at `/` and `/demo.js`. */
  readonly demo: boolean;
}

/**
 * Serves the client bundles (and the demo) at stable paths. Each file is read and compressed
 * (gzip and brotli) once, on first request, and kept in memory; it is revalidated by a strong
 * ETag (`If-None-Match` → 304) or `Last-Modified`.
 */
export class StaticFiles {
  private readonly prepared = new Map<string, Promise<Prepared | null>>();

  constructor(private readonly options: StaticFilesOptions = { demo: false }) {}

  routes(prefix: string): Route[] {
    const files = this.options.demo ? [...BUNDLES, ...DEMO] : BUNDLES;
    return files.map((file) => [
      `${prefix}${file.path}`,
      { method: 'GET', handler: (req, res, query) => this.serve(req, res, query, file) },
    ]);
  }

  private async serve(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    file: StaticFile,
  ): Promise<void> {
    let prepared = this.prepared.get(file.path);
    if (!prepared) {
      prepared = prepare(file);
      this.prepared.set(file.path, prepared);
    }
    const ready = await prepared;
    if (!ready) {
      this.prepared.delete(file.path); // built later, it is served then
      sendError(res, new PushwireError('not_found', `${file.path} is not built: run npm run build`));
      return;
    }
    const available = (Object.keys(ready.bodies) as (Encoding | 'identity')[]).filter(
      (name): name is Encoding => name !== 'identity',
    );
    const encoding = acceptedEncoding(req.headers['accept-encoding'], available);
    const body = ready.bodies[encoding ?? 'identity']!;
    const versioned = file.contentType === JS && query.get('v') === packageVersion();
    const headers: Record<string, string | number> = {
      'Cache-Control': versioned ? IMMUTABLE : file.cacheControl,
      ETag: `"${ready.hash}${encoding ? `-${encoding}` : ''}"`,
      'Last-Modified': ready.lastModified,
      // Caches must key on Accept-Encoding: the same URL has a gzip, a brotli and a plain body;
      // and on Origin too where the CORS headers set before this say so.
      Vary: withVary(res.getHeader('Vary'), 'Accept-Encoding'),
    };
    if (notModified(req.headers, String(headers.ETag), ready.lastModified)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    // Node sends no body for HEAD by itself; the headers stay those of the GET.
    res.writeHead(200, {
      ...headers,
      'Content-Type': file.contentType,
      'Content-Length': body.length,
      ...(encoding ? { 'Content-Encoding': encoding } : {}),
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(body);
  }
}

/** `Vary` naming `name` besides what `current` (the answer's Vary so far, if any) names. */
function withVary(current: number | string | string[] | undefined, name: string): string {
  if (current === undefined) return name;
  return `${Array.isArray(current) ? current.join(', ') : current}, ${name}`;
}

async function prepare(file: StaticFile): Promise<Prepared | null> {
  const path = findFile(file.candidates);
  if (!path) return null;
  const identity = readFileSync(path);
  // Maximum effort: done once per file, and text compresses best at the top levels.
  const [gzipped, brotli] = await Promise.all([
    gzipAsync(identity, { level: 9 }),
    brotliAsync(identity, {
      params: {
        [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
        [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
        [zlib.BROTLI_PARAM_SIZE_HINT]: identity.length,
      },
    }),
  ]);
  const bodies: Partial<Record<Encoding | 'identity', Buffer>> = { identity };
  if (brotli.length < identity.length) bodies.br = brotli;
  if (gzipped.length < identity.length) bodies.gzip = gzipped;
  return {
    bodies,
    hash: createHash('sha256').update(identity).digest('base64url').slice(0, 22),
    lastModified: statSync(path).mtime.toUTCString(),
  };
}

function findFile(candidates: readonly string[]): string | null {
  for (const candidate of candidates) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  return null;
}

let version: string | undefined;
/** The version of this package: what `?v=` must name for a bundle to be cached for good. */
export function packageVersion(): string {
  // package.json is two levels up both from src/server and from dist/server.
  version ??= (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  return version;
}
