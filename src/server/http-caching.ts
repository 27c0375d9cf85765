// Content negotiation and conditional requests for the static files (RFC 9110 §12.5.3, §13).
import type { IncomingHttpHeaders } from 'node:http';

export type Encoding = 'br' | 'gzip';

/** Brotli first: about 15% smaller than gzip on the client bundle. */
const PREFERENCE: readonly Encoding[] = ['br', 'gzip'];

/**
 * The encoding to send for an `Accept-Encoding` header, among those `available`: the one with
 * the highest q-value above 0 (brotli on a tie), or null for the plain body. `q=0` refuses a
 * coding; `*` stands for every coding the header doesn't name; no header means identity.
 */
export function acceptedEncoding(
  header: string | undefined,
  available: readonly Encoding[],
): Encoding | null {
  if (!header) return null;
  const weights = new Map<string, number>();
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    let q = 1;
    for (const param of params) {
      const [key, value] = param.trim().split('=');
      if (key === 'q') q = Number(value);
    }
    weights.set(name, Number.isFinite(q) ? q : 0);
  }
  let best: { encoding: Encoding; q: number } | null = null;
  for (const encoding of PREFERENCE) {
    if (!available.includes(encoding)) continue;
    const q = weights.get(encoding) ?? weights.get('*') ?? 0;
    if (q > 0 && (best === null || q > best.q)) best = { encoding, q };
  }
  return best?.encoding ?? null;
}

/**
 * Whether the client's copy is current: `If-None-Match` lists the ETag (or is `*`), or, only
 * when there is no `If-None-Match`, `If-Modified-Since` is not before `lastModified`.
 */
export function notModified(headers: IncomingHttpHeaders, etag: string, lastModified: string): boolean {
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    // The weak comparison: W/"x" matches "x".
    const wanted = etag.replace(/^W\//, '');
    return ifNoneMatch
      .split(',')
      .map((tag) => tag.trim().replace(/^W\//, ''))
      .some((tag) => tag === '*' || tag === wanted);
  }
  const since = Date.parse(headers['if-modified-since'] ?? '');
  return Number.isFinite(since) && since >= Date.parse(lastModified);
}
