import {
  Connection,
  type ConnectionOutput,
  type ConnectionSettings,
  type StatusEvents,
} from './connection.ts';
import type { FallbackPlan } from './fallback.ts';
import { httpPublish } from './http-publish.ts';
import type { Delivery, ResumeState } from './resume.ts';
import { ServerError } from './server-error.ts';
import type { LinkEvent } from './transports/types.ts';
import type { ConnectionState, PublishResult, TransportName } from './types.ts';

/** What a tab needs to run the connection should it become the leader. */
export interface SharedTabsStart {
  plan: FallbackPlan;
  resume: ResumeState;
  settings: ConnectionSettings;
  delivery: Delivery;
  status: ConnectionOutput['status'];
}

/** What carries tabs' notes to each other; BroadcastChannel in browsers. */
interface TabChannel {
  onmessage: ((event: { data: TabNote }) => void) | null;
  postMessage(note: TabNote): void;
  close(): void;
}

/**
 * An error as it crosses tabs: structured cloning keeps an Error's message and drops the rest,
 * `code` included, so it goes as a plain object.
 */
type ErrorNote = { message: string } & Partial<ServerError>;

const toNote = (error: Error): ErrorNote => ({ ...error, message: error.message });
const fromNote = (note: ErrorNote): Error =>
  note.code ? new ServerError(note.code, note.message, note) : new Error(note.message);

type TabNote =
  /** A tab's channel set, to the leader: on change, and when a new leader asks. */
  | { t: 'subs'; from: string; channels: string[] }
  | { t: 'bye'; from: string }
  | { t: 'leader'; from: string }
  /** The leader's view of who wants what; the next leader starts from it. */
  | { t: 'owners'; from: string; owners: [string, string[]][] }
  | { t: 'event'; event: LinkEvent }
  /** A status event of the leader's connection, and the state it left the connection in. */
  | { t: 'status'; name: keyof StatusEvents; payload: unknown; state: ConnectionState }
  | { t: 'token'; token: string | undefined };

interface LockManagerLike {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<void>;
}

/** The platform parts tab sharing needs; without them each tab keeps its own connection. */
export function tabSharingPlatform(): {
  locks: LockManagerLike;
  channel: (name: string) => TabChannel;
} | null {
  const scope = globalThis as { navigator?: { locks?: LockManagerLike }; BroadcastChannel?: unknown };
  const locks = scope.navigator?.locks;
  const Channel = scope.BroadcastChannel as (new (name: string) => TabChannel) | undefined;
  return locks && Channel ? { locks, channel: (name) => new Channel(name) } : null;
}

/**
 * One server connection for all tabs of an origin. The tab holding a Web Lock named after the
 * server is the leader: it runs the connection for the union of every tab's channels and
 * hands every event to the others over a BroadcastChannel. Every tab feeds those events to its
 * own resume state, so when the leader tab goes away (the browser releases its lock) the next
 * tab in the lock's queue connects from the same cursor and nothing is lost.
 */
export class SharedTabs {
  #state: ConnectionState = 'connecting';
  #transport: TransportName | null = null;
  readonly #id = Math.random().toString(36).slice(2);
  readonly #tabs: TabChannel;
  readonly #stopLock = new AbortController();
  readonly #owners = new Map<string, string[]>();
  readonly #union = new Set<string>();
  #channels: string[] = [];
  #leaderId: string | null = null;
  #connection: Connection | null = null;
  #release: (() => void) | null = null;

  readonly #start: SharedTabsStart;

  constructor(
    name: string,
    platform: NonNullable<ReturnType<typeof tabSharingPlatform>>,
    start: SharedTabsStart,
  ) {
    this.#start = start;
    // The leader alone calls `getToken` (its connection refreshes for every tab); each token it
    // gets goes to the other tabs too, so that the next leader opens with a fresh one.
    start.settings.token.onChange = (token) => {
      if (this.#connection) this.#post({ t: 'token', token });
    };
    this.#tabs = platform.channel(name);
    this.#tabs.onmessage = ({ data }) => this.#onNote(data);
    platform.locks
      .request(
        name,
        { signal: this.#stopLock.signal },
        () => new Promise<void>((release) => this.#lead(release)),
      )
      .catch(() => {});
    const pageScope = globalThis as { addEventListener?: (type: string, fn: () => void) => void };
    pageScope.addEventListener?.('pagehide', () => this.#post({ t: 'bye', from: this.#id }));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  get transport(): TransportName | null {
    return this.#transport;
  }

  setChannels(channels: readonly string[]): void {
    this.#channels = [...channels];
    if (this.#connection) this.#onSubs(this.#id, this.#channels);
    else this.#post({ t: 'subs', from: this.#id, channels: this.#channels });
  }

  /**
   * The leader publishes over its connection; another tab over `POST /publish` itself, with
   * the token the tabs share: the same rights, without a round trip through the leader.
   */
  publish(channel: string, data: unknown): Promise<PublishResult> {
    if (this.#connection) return this.#connection.publish(channel, data);
    const { baseUrl, token, fetch, requestTimeoutMs } = this.#start.settings;
    return httpPublish(fetch!, {
      baseUrl,
      token: token.current,
      clientId: this.#id,
      channel,
      data,
      timeoutMs: requestTimeoutMs,
    });
  }

  /** Every tab keeps the token, so that the next leader connects with it too. */
  setToken(token: string | undefined): void {
    this.#post({ t: 'token', token });
    this.#useToken(token);
  }

  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#post({ t: 'bye', from: this.#id });
    this.#connection?.close();
    this.#stopLock.abort();
    this.#release?.();
    this.#tabs.close();
  }

  #post(note: TabNote): void {
    if (this.#state !== 'closed' || note.t === 'bye') this.#tabs.postMessage(note);
  }

  #useToken(token: string | undefined): void {
    this.#start.settings.token.set(token);
    this.#connection?.setToken(token);
  }

  #lead(release: () => void): void {
    this.#release = release;
    if (this.#state === 'closed') {
      release();
      return;
    }
    // The previous leader's own channels go with it; every other tab re-announces its set.
    if (this.#leaderId) this.#owners.delete(this.#leaderId);
    this.#leaderId = this.#id;
    const { plan, resume, settings } = this.#start;
    this.#connection = new Connection(plan, resume, settings, {
      event: (event) => {
        this.#post({ t: 'event', event });
        this.#ingest(event);
      },
      status: (name, payload) => {
        const state = this.#connection!.state;
        this.#post({
          t: 'status',
          name,
          payload: name === 'error' ? toNote(payload as Error) : payload,
          state,
        });
        this.#onStatus(name, payload, state);
      },
    });
    this.#post({ t: 'leader', from: this.#id });
    this.#onSubs(this.#id, this.#channels);
  }

  #onNote(note: TabNote): void {
    const leading = this.#connection !== null;
    switch (note.t) {
      case 'subs':
        if (leading) this.#onSubs(note.from, note.channels);
        break;
      case 'bye':
        if (leading && this.#owners.delete(note.from)) this.#onSubs(this.#id, this.#channels);
        break;
      case 'leader':
        this.#leaderId = note.from;
        this.#post({ t: 'subs', from: this.#id, channels: this.#channels });
        break;
      case 'owners':
        this.#leaderId = note.from;
        this.#setOwners(note.owners);
        break;
      case 'event':
        this.#ingest(note.event);
        break;
      case 'status':
        this.#onStatus(
          note.name,
          (note.name === 'error'
            ? fromNote(note.payload as ErrorNote)
            : note.payload) as StatusEvents[typeof note.name],
          note.state,
        );
        break;
      case 'token':
        this.#useToken(note.token);
        break;
    }
  }

  /** Leader: a tab's set changed. Tell every tab the new owners and where the channels stand. */
  #onSubs(from: string, channels: string[]): void {
    this.#owners.set(from, channels);
    this.#setOwners([...this.#owners]);
    const connection = this.#connection!;
    connection.setChannels([...this.#union]);
    this.#post({ t: 'owners', from: this.#id, owners: [...this.#owners] });
    const cursor = this.#start.resume.cursor(this.#union);
    if (cursor) this.#post({ t: 'event', event: { op: 'cursor', cursor } });
    if (connection.transport) {
      this.#post({
        t: 'status',
        name: 'connected',
        payload: { transport: connection.transport, clientId: null },
        state: connection.state,
      });
    }
  }

  #setOwners(owners: [string, string[]][]): void {
    this.#owners.clear();
    this.#union.clear();
    for (const [tab, channels] of owners) {
      this.#owners.set(tab, channels);
      for (const channel of channels) this.#union.add(channel);
    }
    for (const channel of this.#channels) this.#union.add(channel);
    this.#start.resume.retain(this.#union);
  }

  #ingest(event: LinkEvent): void {
    this.#start.resume.ingest(event, this.#union, this.#start.delivery);
  }

  #onStatus<K extends keyof StatusEvents>(name: K, payload: StatusEvents[K], state: ConnectionState): void {
    if (this.#state === 'closed') return;
    if (name === 'connected') {
      const { transport } = payload as StatusEvents['connected'];
      if (this.#state === 'connected' && this.#transport === transport) return;
      this.#transport = transport;
    } else if (name === 'disconnected') this.#transport = null;
    this.#state = state;
    this.#start.status(name, payload);
  }
}
