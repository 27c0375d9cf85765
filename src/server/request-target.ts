/** A request target split into the path routes match and its query. */
export interface RequestTarget {
  /** As sent, without the query: routes match it exactly, so it is never decoded. */
  readonly path: string;
  readonly query: URLSearchParams;
}

/**
 * Reads a request target (`/sse?channel=a`) without `new URL`, which throws on targets a
 * client controls (`//a:99999/`, `http://[::1/`). Null for anything but an origin-form
 * target (RFC 9112 §3.2.1): absolute and authority forms are not Pushwire's to answer.
 * URLSearchParams never throws, whatever the query holds.
 */
export function readTarget(raw: string | undefined): RequestTarget | null {
  if (raw === undefined || !raw.startsWith('/') || raw.startsWith('//')) return null;
  const mark = raw.indexOf('?');
  const path = mark === -1 ? raw : raw.slice(0, mark);
  const hash = path.indexOf('#');
  return {
    path: hash === -1 ? path : path.slice(0, hash),
    query: new URLSearchParams(mark === -1 ? '' : raw.slice(mark + 1)),
  };
}
