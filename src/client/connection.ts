import { type ConnectedEvent, FULL_SERVER_RETRY_AFTER_S } from '../protocol/index.ts';
import { backoffDelay, hintedDelay } from './backoff.ts';
import type { FallbackPlan } from './fallback.ts';
import { httpPublish } from './http-publish.ts';
import type { ResumeState } from './resume.ts';
import { isFinal, ServerError } from './server-error.ts';
import { refreshDelay, type TokenSource, tokenExpiry } from './token.ts';
import type {
  ClientTransport,
  Link,
  LinkClose,
  LinkEvent,
  LinkParams,
  LinkSink,
  Replaces,
} from './transports/types.ts';
import type {
  BackoffOptions,
  ConnectionState,
  FetchFunction,
  PublishResult,
  PushwireEvents,
  TransportName,
} from './types.ts';
import { Watchdog } from './watchdog.ts';

export interface ConnectionSettings {
  baseUrl: string;
  token: TokenSource;
  backoff: Required<BackoffOptions>;
  connectTimeoutMs: number;
  heartbeatGraceMs: number;
  upgradeAfterMs: number;
  requestTimeoutMs: number;
  /** For publishing over HTTP while on a transport without an upstream. */
  fetch: FetchFunction | undefined;
}

/** Connection-level events, as `Pushwire` re-emits them. */
export type StatusEvents = Pick<
  PushwireEvents,
  'connected' | 'subscribed' | 'disconnected' | 'reconnecting' | 'heartbeat' | 'error'
>;

export interface ConnectionOutput {
  /** Messages, gaps and cursors, for the resume state and the app. */
  event(event: LinkEvent): void;
  status<K extends keyof StatusEvents>(name: K, payload: StatusEvents[K]): void;
}

type Timer = ReturnType<typeof setTimeout> | undefined;

const sameChannels = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((channel) => b.includes(channel));

/** Answers to a refresh that refuse the token itself; any other failure means the link can't. */
const TOKEN_REFUSALS = ['forbidden', 'disconnected', 'token_expired', 'unauthorized'];

/** No `Retry-After` keeps a client away longer than this, whatever it says. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * How long a server that is up but can't take the connection asked to be left alone (then the
 * reconnect waits that, plus jitter, not the backoff meant for a network that is away), or null.
 */
function busyWait(error: ServerError | null): number | null {
  if (!error) return null;
  const asked =
    error.retryAfterMs ?? (error.code === 'too_many_connections' ? FULL_SERVER_RETRY_AFTER_S * 1000 : null);
  return asked === null ? null : Math.min(asked, MAX_RETRY_AFTER_MS);
}

/**
 * One logical connection to the server over whichever transport works: opens links in the
 * fallback order, reconnects with backoff (or as the server advised), watches heartbeats,
 * resumes every new link from the resume state and, after falling back, probes the preferred
 * transport again. A refusal that retrying can't fix stops it until a new token or channel
 * set. It knows transports only by their declared capabilities. Callbacks of a link that was
 * replaced are ignored (by link id).
 */
export class Connection {
  #state: ConnectionState = 'idle';
  readonly #plan: FallbackPlan;
  readonly #resume: ResumeState;
  readonly #settings: ConnectionSettings;
  readonly #out: ConnectionOutput;
  readonly #watchdog = new Watchdog(() =>
    this.#lost(this.#linkId, 'no heartbeat within the interval + grace'),
  );
  #channels: readonly string[] = [];
  #link: Link | null = null;
  #linkTransport: ClientTransport | null = null;
  #linkChannels: readonly string[] = [];
  /** Ids tell a link's callbacks apart from those of links already replaced (0: no link). */
  #ids = 0;
  #linkId = 0;
  #opened = false;
  #heartbeatMs: number | null = null;
  /** The transport the app was last told it is connected over; null while disconnected. */
  #announced: TransportName | null = null;
  #probe: { id: number; link: Link; transport: ClientTransport; channels: readonly string[] } | null = null;
  /** Reconnect attempts since the last connection, and how many of them waited a backoff. */
  #attempt = 0;
  #backoffs = 0;
  /** When the client lost its connection (Date.now()), or null while connected. */
  #lostAt: number | null = null;
  #hintMs: number | null = null;
  /**
   * Names this client in HTTP publishes: the server's clientId once a connection said it, a
   * random one before that or on long poll (which has no `connected` event).
   */
  #clientId = Math.random().toString(36).slice(2);
  /**
   * The last connection the server gave a replace key: the next link names it, so the server
   * ends it at once instead of keeping a dead peer's connection open for minutes.
   */
  #replaces: Replaces | null = null;
  #syncQueued = false;
  /** While refused: why, and for which channel set (a new set is a new request). */
  #refusal: { error: ServerError; channels: readonly string[] } | null = null;
  #reconnectTimer: Timer;
  #connectTimer: Timer;
  #upgradeTimer: Timer;
  /** The next `getToken` call: a refresh before expiry, or a retry after a failure. */
  #tokenTimer: Timer;
  /** The token must come from `getToken` before the next link opens (it expired or was refused). */
  #staleToken = false;
  #renewing = false;
  /** `getToken` failures and refused tokens in a row, for the backoff of the next try. */
  #tokenFailures = 0;
  /** When getToken began failing (Date.now()); the retries slow down with the time since. */
  #tokenFailingSince = 0;

  constructor(plan: FallbackPlan, resume: ResumeState, settings: ConnectionSettings, out: ConnectionOutput) {
    this.#plan = plan;
    this.#resume = resume;
    this.#settings = settings;
    this.#out = out;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The transport of the open link, if any. */
  get transport(): TransportName | null {
    return this.#opened ? this.#linkTransport!.name : null;
  }

  /** Changes the channel set; applied once per tick, so a burst of subscribes costs one change. */
  setChannels(channels: readonly string[]): void {
    this.#channels = channels;
    if (this.#syncQueued) return;
    this.#syncQueued = true;
    queueMicrotask(() => {
      this.#syncQueued = false;
      this.#sync();
    });
  }

  /**
   * Uses `token` from now on. A refused connection tries again with it; an open one takes it
   * in place (the server's refresh), or, where the server can't do that, is replaced by one
   * that uses it (resuming from the cursor: nothing is lost).
   */
  setToken(token: string | undefined): void {
    if (this.#state === 'closed') return;
    this.#staleToken = false;
    this.#useToken(token).catch((error: ServerError) => this.#out.status('error', error));
  }

  /**
   * Over the open link where it has an upstream (the WebSocket), else over `POST /publish`:
   * a publish never waits for, or opens, a connection.
   */
  async publish(channel: string, data: unknown): Promise<PublishResult> {
    if (this.#state === 'closed') throw new Error('the client is closed');
    const { requestTimeoutMs, baseUrl, fetch, token } = this.#settings;
    const link = this.#opened ? this.#link : null;
    if (link?.request) {
      const reply = await link.request({ op: 'publish', channel, data }, requestTimeoutMs);
      return { channel, offset: Number(reply.offset), epoch: String(reply.epoch) };
    }
    const clientId = this.#clientId;
    return httpPublish(fetch!, {
      baseUrl,
      token: token.current,
      clientId,
      channel,
      data,
      timeoutMs: requestTimeoutMs,
    });
  }

  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#drop('closed by the client');
    this.#closeProbe();
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#tokenTimer);
  }

  #sync(): void {
    if (this.#state === 'closed') return;
    if (this.#refusal) {
      // The server refused this set: only a different one is a new request to try.
      if (sameChannels(this.#channels, this.#refusal.channels)) return;
      this.#refusal = null;
      this.#attempt = this.#backoffs = 0;
      this.#lostAt = null;
    }
    if (this.#channels.length === 0) {
      this.#state = 'idle';
      this.#drop('no channels');
      clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    } else if (this.#reconnectTimer) {
      // The scheduled reconnect opens with the set current by then.
    } else if (!this.#link) this.#open();
    else if (this.#link.update) {
      const id = this.#linkId;
      // A link that can't change its channels in place (an older server) is replaced.
      this.#link.update(this.#channels, this.#cursor())?.catch(() => {
        if (id === this.#linkId) this.#replace();
      });
    } else if (!sameChannels(this.#channels, this.#linkChannels)) {
      // A fixed set per link: replace the link. The new one resumes from the cursor, so
      // nothing published meanwhile on the kept channels is lost.
      this.#replace();
    }
  }

  #cursor(): string | null {
    return this.#resume.cursor(this.#channels);
  }

  #open(): void {
    const source = this.#settings.token;
    if (source.getToken && (this.#staleToken || !source.current)) {
      this.#renew();
      return;
    }
    const transport = this.#plan.current;
    this.#state = this.#announced ? 'connected' : this.#attempt > 0 ? 'reconnecting' : 'connecting';
    const id = ++this.#ids;
    this.#linkId = id;
    this.#opened = false;
    this.#linkTransport = transport;
    this.#linkChannels = this.#channels;
    this.#link = transport.open(this.#params(this.#replaces), this.#sink(id));
    this.#connectTimer = setTimeout(() => this.#lost(id, 'connect timeout'), this.#settings.connectTimeoutMs);
  }

  #params(replaces: Replaces | null): LinkParams {
    const { baseUrl, token } = this.#settings;
    return { baseUrl, token: token.current, channels: this.#channels, cursor: this.#cursor(), replaces };
  }

  #sink(id: number): LinkSink {
    return { event: (event) => this.#onEvent(id, event), closed: (info) => this.#onClosed(id, info) };
  }

  #replace(): void {
    const announced = this.#announced;
    this.#drop(null);
    this.#announced = announced;
    this.#open();
  }

  /**
   * Ends the current link without reconnecting; says `disconnected` when given a reason (set
   * the state the client goes to first).
   */
  #drop(reason: string | null): void {
    const link = this.#link;
    this.#linkId = 0;
    this.#link = null;
    this.#opened = false;
    this.#watchdog.stop();
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#upgradeTimer);
    link?.close();
    if (this.#announced && reason !== null) {
      this.#out.status('disconnected', { transport: this.#announced, reason });
    }
    this.#announced = null;
  }

  #onEvent(id: number, event: LinkEvent): void {
    if (this.#probe?.id === id) {
      if (event.op !== 'connected') return;
      this.#promoteProbe();
    } else if (id !== this.#linkId) return;
    this.#watchdog.beat();
    switch (event.op) {
      case 'connected':
        this.#onConnected(event);
        break;
      case 'reconnect':
        this.#hintMs = event.delayMs;
        return;
      case 'ping':
        // Where heartbeats may be invisible, a visible one shows the watchdog can be trusted.
        if (!this.#linkTransport!.capabilities.heartbeatVisible) this.#armWatchdog(this.#heartbeatMs);
        this.#out.status('heartbeat', { transport: this.#linkTransport!.name });
        return;
      case 'subscribed':
        this.#out.status('subscribed', { channel: event.channel });
        break;
      case 'error':
        this.#out.status('error', new ServerError(event.code, event.message, { channel: event.channel }));
        return;
    }
    this.#out.event(event);
  }

  #onConnected({ heartbeatIntervalMs, clientId, replaceKey, expiresAt }: ConnectedEvent): void {
    const transport = this.#linkTransport!;
    const { name, capabilities } = transport;
    clearTimeout(this.#connectTimer);
    this.#opened = true;
    this.#plan.opened(transport);
    this.#attempt = this.#backoffs = 0;
    this.#lostAt = null;
    this.#hintMs = null;
    this.#state = 'connected';
    this.#heartbeatMs = heartbeatIntervalMs;
    if (clientId) this.#clientId = clientId;
    // Long poll keeps no connection: an older one named before stays the one to replace.
    if (clientId && replaceKey) this.#replaces = { clientId, key: replaceKey };
    if (capabilities.heartbeatVisible) this.#armWatchdog(heartbeatIntervalMs);
    if (this.#announced !== name) {
      this.#announced = name;
      this.#out.status('connected', { transport: name, clientId: clientId || null });
    }
    if (!capabilities.confirmsEachChannel) {
      for (const channel of this.#linkChannels) this.#out.status('subscribed', { channel });
    }
    this.#scheduleRefresh(expiresAt);
    clearTimeout(this.#upgradeTimer);
    if (this.#plan.degraded && this.#settings.upgradeAfterMs > 0) {
      this.#upgradeTimer = setTimeout(() => this.#startProbe(), this.#settings.upgradeAfterMs);
    }
  }

  #armWatchdog(heartbeatIntervalMs: number | null): void {
    if (heartbeatIntervalMs === null) this.#watchdog.stop();
    else this.#watchdog.start(heartbeatIntervalMs + this.#settings.heartbeatGraceMs);
  }

  #onClosed(id: number, info: LinkClose): void {
    if (this.#probe?.id === id) {
      this.#probe = null;
      this.#upgradeTimer = setTimeout(() => this.#startProbe(), this.#settings.upgradeAfterMs);
      return;
    }
    if (id !== this.#linkId) return;
    const opened = this.#opened;
    const { error } = info;
    // An end a new token fixes goes on once `getToken` gave one (the reconnect asks it first).
    const renew =
      !!this.#settings.token.getToken && ['token_expired', 'unauthorized'].includes(error?.code ?? '');
    const final = !renew && error !== null && isFinal(error);
    // Listeners of `disconnected` see where the client is going, not where it was.
    this.#state = final ? 'refused' : 'reconnecting';
    this.#drop(info.reason);
    this.#closeProbe();
    if (final) {
      this.#refuse(error!);
      return;
    }
    this.#staleToken ||= renew;
    // A connection the server refused is told about, as is a token that ended one; one the
    // server ended otherwise (a drain) is just reconnected.
    if (error && (renew || !opened)) this.#out.status('error', error);
    const busyMs = busyWait(error);
    if (busyMs !== null) this.#hintMs = busyMs;
    // Only a failure the server said nothing about moves to the next transport (a proxy that
    // doesn't pass it): one it answered on works. Falling back is immediate.
    const movedOn = !opened && !error && this.#plan.failed();
    this.#scheduleReconnect(movedOn ? 0 : null);
  }

  /** Stops until a new token or channel set: retrying as is would get the same answer. */
  #refuse(error: ServerError): void {
    this.#refusal = { error, channels: this.#channels };
    this.#out.status('error', error);
  }

  /** A link that stopped answering: close it and go on as if it had closed itself. */
  #lost(id: number, reason: string): void {
    if (id !== this.#linkId || !this.#link) return;
    this.#link.close();
    this.#onClosed(id, { reason, error: null });
  }

  /** `delayMs` 0 moves to the next transport at once, and doesn't lengthen the next backoff. */
  #scheduleReconnect(delayMs: number | null): void {
    const { backoff } = this.#settings;
    this.#lostAt ??= Date.now();
    const delay =
      delayMs ??
      (this.#hintMs !== null
        ? hintedDelay(this.#hintMs)
        : backoffDelay(this.#backoffs++, Date.now() - this.#lostAt!, backoff));
    this.#hintMs = null;
    this.#attempt++;
    this.#state = 'reconnecting';
    this.#out.status('reconnecting', {
      delayMs: delay,
      attempt: this.#attempt,
      transport: this.#plan.current.name,
    });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#sync();
    }, delay);
  }

  /**
   * Asks `getToken` for a token and puts it to use. While it fails, or the server refuses its
   * tokens, each failure is an `error` (the server's code, or `token_unavailable`) and `getToken`
   * is asked again after a backoff; a link that needs a new token doesn't open meanwhile.
   */
  async #renew(): Promise<void> {
    if (this.#renewing) return;
    this.#renewing = true;
    clearTimeout(this.#tokenTimer);
    try {
      const token = await this.#settings.token.getToken!();
      if (!token) throw new Error('no token');
      this.#staleToken = false;
      await this.#useToken(token);
      this.#tokenFailures = 0;
      this.#tokenFailingSince = 0;
    } catch (error) {
      if (this.#state === 'closed') return;
      const { code, message } = error as ServerError;
      this.#out.status(
        'error',
        code ? (error as ServerError) : new ServerError('token_unavailable', message),
      );
      if (this.#tokenFailures++ === 0) this.#tokenFailingSince = Date.now();
      const delay = backoffDelay(
        this.#tokenFailures,
        Date.now() - this.#tokenFailingSince,
        this.#settings.backoff,
      );
      this.#tokenTimer = setTimeout(() => this.#renew(), delay);
    } finally {
      this.#renewing = false;
    }
  }

  /**
   * Hands `token` to the open link, in place; rejects when the server refuses the token itself
   * (the link goes on with its old one, to end at its expiry unless a refresh gets through).
   * Else, and where the link can't refresh (an older server), the next link opens with it.
   */
  async #useToken(token: string | undefined): Promise<void> {
    const current = this.#link;
    const link = token && this.#opened ? current : null;
    try {
      const expiresAt = await link?.refresh(token!);
      if (link && link === this.#link) {
        this.#settings.token.set(token);
        this.#scheduleRefresh(expiresAt ?? undefined);
        return;
      }
    } catch (error) {
      if (TOKEN_REFUSALS.includes((error as ServerError).code)) throw error;
    }
    if (current !== this.#link || this.#state === 'closed') return;
    this.#settings.token.set(token);
    if (this.#refusal) {
      this.#refusal = null;
      this.#attempt = this.#backoffs = 0;
      this.#lostAt = null;
      this.#sync();
    } else if (this.#link) {
      this.#closeProbe();
      this.#replace();
    } else this.#sync();
  }

  /**
   * Refreshes before `expiresAt` (the server's word, or the JWT's `exp` where the transport has
   * no `connected` of its own to say it); null means the connection has no token to expire.
   */
  #scheduleRefresh(expiresAt: number | null | undefined): void {
    clearTimeout(this.#tokenTimer);
    if (!this.#settings.token.getToken) return;
    const at = expiresAt === undefined ? tokenExpiry(this.#settings.token.current) : expiresAt;
    if (at !== null) {
      this.#tokenTimer = setTimeout(() => this.#renew(), refreshDelay(at));
    }
  }

  #startProbe(): void {
    if (!this.#opened || this.#probe || !this.#plan.degraded) return;
    const transport = this.#plan.transports[0]!;
    const id = ++this.#ids;
    const channels = this.#channels;
    // A probe must not end the link it may never take over from.
    this.#probe = { id, transport, channels, link: transport.open(this.#params(null), this.#sink(id)) };
  }

  /** The preferred transport answered: it takes over, resuming from the cursor; the old link ends. */
  #promoteProbe(): void {
    const probe = this.#probe!;
    this.#probe = null;
    const announced = this.#announced;
    this.#drop(null);
    this.#announced = announced;
    this.#linkId = probe.id;
    this.#link = probe.link;
    this.#linkTransport = probe.transport;
    this.#linkChannels = probe.channels;
    // After this event is handled: the set may have changed since the probe opened.
    queueMicrotask(() => this.#sync());
  }

  #closeProbe(): void {
    this.#probe?.link.close();
    this.#probe = null;
    clearTimeout(this.#upgradeTimer);
  }
}
