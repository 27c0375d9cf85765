import type { IncomingMessage } from 'node:http';
import type { Identity } from '../../core/index.ts';
import { PushwireError, type TransportName } from '../../protocol/index.ts';
import { bearerToken, type ConnectionAuth } from '../auth.ts';
import type { AppHook } from './app-hook.ts';
import { InvalidAnswer, identityFromAnswer } from './app-identity.ts';

/**
 * The request headers a connect hook is told, and no others: what an application needs to
 * recognize its user (its cookie or token), where the request comes from, and nothing that
 * only concerns the hop to Pushwire.
 */
export const CONNECT_HOOK_HEADERS = [
  'cookie',
  'authorization',
  'user-agent',
  'origin',
  'x-forwarded-for',
] as const;

/**
 * Who a connection (or a client's HTTP publish) is: from its token when token auth is on and
 * it brings one, else from the application's connect hook when there is one, else from the
 * token rules alone (anonymous without a token secret).
 */
export class ConnectAuth {
  constructor(
    private readonly tokens: ConnectionAuth,
    private readonly hook: AppHook | null,
    private readonly log: (msg: string, err: unknown) => void,
  ) {}

  /**
   * Who the connection is when nobody need be asked (no token to verify, no connect hook):
   * the same identity `identify` would give, without a promise. Null otherwise: then call
   * `identify`.
   */
  identifyAtOnce(req: IncomingMessage, query: URLSearchParams): Identity | null {
    return this.hook ? null : this.tokens.identifyAtOnce(bearerToken(req, query));
  }

  /** `transport`: the transport the client connects with; null for a client's POST /publish. */
  async identify(
    req: IncomingMessage,
    query: URLSearchParams,
    transport: TransportName | null,
  ): Promise<Identity> {
    const token = bearerToken(req, query);
    // The dashboard's token is the server's own: the application is not asked about it.
    const ours = token !== null && (this.tokens.required || this.tokens.isOperatorToken(token));
    if (!this.hook || ours) return this.tokens.identify(token);
    const answer = await this.hook.ask(connectBody(req, query, transport));
    try {
      return identityFromAnswer(answer);
    } catch (error) {
      if (!(error instanceof InvalidAnswer)) throw error;
      this.log('connect hook: invalid answer', error);
      throw new PushwireError('unavailable', "the application's connect check failed");
    }
  }
}

/** What the connect hook is asked: the allowed headers, the query, the client's address. */
export function connectBody(
  req: IncomingMessage,
  query: URLSearchParams,
  transport: TransportName | null,
): string {
  const headers: Record<string, string> = {};
  for (const name of CONNECT_HOOK_HEADERS) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  // No prototype: a query parameter named __proto__ stays a parameter.
  const params: Record<string, string[]> = Object.create(null);
  for (const [name, value] of query) {
    if (!Object.hasOwn(params, name)) params[name] = [];
    params[name]!.push(value);
  }
  return JSON.stringify({
    type: 'connect',
    transport,
    address: req.socket.remoteAddress ?? null,
    headers,
    query: params,
  });
}
