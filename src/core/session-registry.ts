import { timingSafeEqual } from 'node:crypto';
import type { ErrorCode } from '../protocol/index.ts';
import type { Lifecycle } from './lifecycle.ts';
import { randomToken } from './random-token.ts';
import { Session, type SessionHost } from './session.ts';
import type { CloseRequest, OpenSessionOptions } from './types.ts';

/** Which connections an operator means: every given field must match. */
export interface SessionFilter {
  readonly userId?: string;
  readonly clientId?: string;
  readonly channel?: string;
}

/** 128 bits: a replace key can't be guessed. */
const REPLACE_KEY_BYTES = 16;

const REPLACED: CloseRequest = Object.freeze({
  code: 'replaced',
  reason: 'a newer connection of this client replaced this one',
  reconnectDelayMs: 0,
});

/**
 * The node's open sessions, by id in the order they opened: opening them, finding them for an
 * operator or a reconnecting client, ending them, and counting why the server ended them.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly host: SessionHost,
    private readonly lifecycle: Lifecycle | null,
    /** Connections the server ended, by code (the hub's stats). */
    private readonly ended: Partial<Record<ErrorCode, number>>,
    /** True once the node is closed: a session closed then is not an application's disconnect. */
    private readonly closed: () => boolean,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  open({ transport, identity, sink, address, transient = false }: OpenSessionOptions): Session {
    // A clientId addresses a live connection (POST /refresh, /subscribe): 128 random bits.
    const id = randomToken(16);
    // Transient sessions (a long poll) end with their request: nothing to replace.
    const replaceKey = transient ? '' : randomToken(REPLACE_KEY_BYTES);
    const session = new Session(id, transport, identity, sink, this.host, address ?? null, replaceKey);
    this.sessions.set(id, session);
    if (!transient) this.lifecycle?.connected(session);
    return session;
  }

  /** The open session of a client connection (not a poll's) by its id. */
  session(clientId: string): Session | null {
    const session = this.sessions.get(clientId);
    return session && session.transport !== 'longpoll' ? session : null;
  }

  /** The open sessions that match `filter`, in the order they opened. */
  matching(filter: SessionFilter): Session[] {
    const found: Session[] = [];
    if (filter.clientId !== undefined) {
      const session = this.sessions.get(filter.clientId);
      return session && matches(session, filter) ? [session] : [];
    }
    for (const session of this.sessions.values()) if (matches(session, filter)) found.push(session);
    return found;
  }

  /**
   * Ends session `clientId` at once with `replaced`, if it is open here and `key` is its
   * replace key: its client came back on a new connection, so the old one is a dead peer's
   * (a network that dropped without a FIN leaves an SSE or stream response open for minutes).
   * The key, given only to that connection, and the user must both match, so that knowing a
   * clientId (presence shows it) is not enough to cut someone off. True if it ended one.
   */
  replace(clientId: string, key: string, userId: string | null): boolean {
    const session = this.sessions.get(clientId);
    if (!session || session.userId !== userId || !sameSecret(session.replaceKey, key)) return false;
    session.end(REPLACED);
    return true;
  }

  /** Ends the sessions that match `filter` with `request`; returns how many. */
  endMatching(filter: SessionFilter, request: CloseRequest): number {
    let ended = 0;
    for (const session of this.matching(filter)) {
      session.end(request);
      ended++;
    }
    return ended;
  }

  /** Ends every open session, each with the request `request()` makes for it. */
  endAll(request: () => CloseRequest): void {
    for (const session of [...this.sessions.values()]) session.end(request());
  }

  /** Closes every open session without a word. */
  closeAll(): void {
    for (const session of [...this.sessions.values()]) session.close();
  }

  /** The session is closed; `ending` says why when the server ended it. */
  forget(session: Session, ending: CloseRequest | null): void {
    if (this.sessions.get(session.id) === session) this.sessions.delete(session.id);
    if (ending) this.countEnded(ending.code);
    this.lifecycle?.disconnected(session, ending, this.closed());
  }

  /** A connection the server ended with `code`, for operators. */
  countEnded(code: ErrorCode): void {
    this.ended[code] = (this.ended[code] ?? 0) + 1;
  }
}

/** Compares secrets in time that doesn't depend on where they differ. */
function sameSecret(expected: string, given: string): boolean {
  const [a, b] = [Buffer.from(expected), Buffer.from(given)];
  // Bytes, not characters: timingSafeEqual throws on buffers of unequal length.
  return a.length > 0 && a.length === b.length && timingSafeEqual(a, b);
}

function matches(session: Session, { userId, clientId, channel }: SessionFilter): boolean {
  if (clientId !== undefined && session.id !== clientId) return false;
  if (userId !== undefined && session.userId !== userId) return false;
  return channel === undefined || session.isSubscribed(channel);
}
