// Why a request never reached the server, in words a user can act on. Node's fetch (undici)
// throws a bare "fetch failed" TypeError; the reason is in its `cause` chain, as an errno
// code (ECONNREFUSED), an undici code (UND_ERR_CONNECT_TIMEOUT) or an OpenSSL code.

interface ErrorLike {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
}

/** What each code means, and what to check. */
const REASONS: Readonly<Record<string, readonly [what: string, hint?: string]>> = {
  ECONNREFUSED: ['connection refused', 'nothing listens on that port; is pushwire serve running there?'],
  ENOTFOUND: ['host not found', 'the DNS lookup failed; check the host name'],
  EAI_AGAIN: ['host not found', 'the DNS lookup timed out'],
  ECONNRESET: ['connection reset by the other side'],
  EHOSTUNREACH: ['no route to the host'],
  ENETUNREACH: ['the network is unreachable'],
  ETIMEDOUT: ['timed out connecting'],
  UND_ERR_CONNECT_TIMEOUT: ['timed out connecting'],
  UND_ERR_HEADERS_TIMEOUT: ['timed out waiting for the answer'],
  UND_ERR_SOCKET: ['the other side closed the connection', 'is it an HTTP server?'],
  EPROTO: ['TLS handshake failed'],
};

/** The errors of a `cause` chain, outermost first (an AggregateError counts its first error). */
function chain(error: unknown): ErrorLike[] {
  const found: ErrorLike[] = [];
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && found.length < 8) {
    const link = current as ErrorLike;
    found.push(link);
    current = link.cause ?? (Array.isArray(link.errors) ? link.errors[0] : undefined);
  }
  return found;
}

/** `connection refused (ECONNREFUSED): nothing listens…`, `no answer within 10 s`, `TLS failed (…)`. */
export function describeConnectionError(error: unknown, timeoutMs?: number): string {
  const links = chain(error);
  if (links.some((link) => link.name === 'TimeoutError')) {
    return timeoutMs === undefined ? 'timed out' : `no answer within ${timeoutMs / 1000} s`;
  }
  for (const link of links.toReversed()) {
    const code = typeof link.code === 'string' ? link.code : undefined;
    const message = typeof link.message === 'string' ? link.message.split('\n')[0]! : '';
    if (code !== undefined && Object.hasOwn(REASONS, code)) {
      const [what, hint] = REASONS[code]!;
      return `${what} (${code})${hint === undefined ? '' : `: ${hint}`}`;
    }
    if (code !== undefined && isTlsCode(code)) {
      const hint = /WRONG_VERSION_NUMBER/.test(code) ? ': is it a plain-HTTP server? use http://' : '';
      return `TLS failed (${code})${hint}`;
    }
    // fetch refuses the ports of other protocols (1, 6000, ...) before it connects.
    if (message === 'bad port') return 'fetch refuses that port (it belongs to another protocol)';
    if (code !== undefined) return `${message || 'failed'} (${code})`;
  }
  const innermost = links.at(-1);
  return typeof innermost?.message === 'string' ? innermost.message : String(error);
}

function isTlsCode(code: string): boolean {
  return /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code);
}
