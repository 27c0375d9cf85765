import type { PresenceInfo } from '../brokers/types.ts';
import type {
  ClientCommand,
  Cursor,
  ErrorCode,
  GapEvent,
  Publication,
  StreamPosition,
  TransportName,
} from '../protocol/index.ts';
import type { OutboundBatch, OutboundMessage } from './outbound.ts';

/** Per-channel behaviour, resolved from the channel's namespace by the server's config. */
export interface ChannelOptions {
  readonly historySize: number;
  readonly historyTtlMs: number | null;
  /** See PublishOptions.historyMinAgeMs; absent: 0. */
  readonly historyMinAgeMs?: number;
  readonly clientPublish: boolean;
  readonly presence: boolean;
  /** Ask the application (the hub's AccessHook) before each read: subscribe, history, presence. */
  readonly subscribeHook?: boolean;
  /** Ask the application before each client publish; it may refuse or replace the data. */
  readonly publishHook?: boolean;
  /** Anyone connected may read it, whatever their credentials grant. */
  readonly public?: boolean;
}

/**
 * The channels credentials grant: a list of names and patterns (see channelPatternMatches in
 * access.ts), or every channel (`all`: no credentials are required).
 */
export type ChannelGrant = 'all' | readonly string[];

/** Who is connected, as established by the server's auth at the edge. */
export interface Identity {
  readonly userId: string | null;
  /** The channels it may read (subscribe, history, presence), beyond public namespaces. */
  readonly subscribe: ChannelGrant;
  /** The channels it may publish on, beyond what the namespace allows everyone. */
  readonly publish: ChannelGrant;
  /**
   * Issued by the server for its own channels (`$admin:…`, see isSystemChannel): without it
   * no identity reads them, whatever `subscribe` says.
   */
  readonly system?: boolean;
  /** When the credentials were issued (JWT `iat`, seconds), for revocations; absent if unknown. */
  readonly issuedAt?: number;
  /** When the credentials expire (ms since the epoch): the hub ends the session then with `token_expired`. */
  readonly expiresAt?: number | null;
}

export const ANONYMOUS: Identity = Object.freeze({
  userId: null,
  subscribe: 'all',
  publish: Object.freeze([]),
});

/** Why a session is being ended by the server. */
export interface CloseRequest {
  /** The error code the connection ends with (the transport's close code, event or status). */
  readonly code: ErrorCode;
  readonly reason: string;
  /** A hint for the client: wait about this long before reconnecting. */
  readonly reconnectDelayMs: number;
}

/**
 * What a transport gives the hub to reach one connection. Calls come in delivery order.
 * Implementations MUST NOT throw and MUST NOT block: queue, or close the connection.
 */
export interface SessionSink {
  /** A message, and the connection's cursor right after it. */
  message(message: OutboundMessage, cursor: string): void;
  /**
   * Consecutive messages of the connection's only channel, each with its one-channel cursor
   * (`message.soloCursor()`): the same for every such connection, so bytes can be shared.
   */
  batch(batch: OutboundBatch): void;
  gap(event: GapEvent): void;
  /**
   * The connection lost one channel and goes on with the rest (a refreshed token no longer
   * grants it): tell the client, naming the channel.
   */
  dropped(channel: string, code: ErrorCode, reason: string): void;
  /** The server ends this connection: tell the client why (and to reconnect), then close. */
  close(request: CloseRequest): void;
  /** Bytes written to the connection but not yet sent, for operators; absent where unknown. */
  bufferedBytes?(): number;
}

/**
 * Wants a channel's next messages without a session (a long poll at the latest position):
 * "tell me when there is something after P". Like a sink: MUST NOT block.
 */
export interface ChannelWatcher {
  /**
   * The channel's next batch, oldest first. Returns how many of its messages the watcher
   * took (it then stops watching), or null to keep watching: every message of the batch came
   * before its position.
   */
  next(batch: OutboundBatch): number | null;
  /** The hub stops the watch: with a close request (drain), or null (closed without a word). */
  end(request: CloseRequest | null): void;
  /** Whose poll it is, so that disconnecting a user ends its waiting polls too. */
  readonly userId?: string | null;
}

/** What a client asks of its session, as parsed at the edge (the WebSocket ops, POST /subscribe …). */
export type SessionCommand = Exclude<ClientCommand, { op: 'pong' | 'refresh' }>;

/** A command's outcome, for the transport to put into its reply. */
export type CommandResult =
  | { op: 'subscribe'; channel: string; epoch: string; offset: number; cursor: string }
  | { op: 'unsubscribe'; channel: string }
  | { op: 'publish'; channel: string; offset: number; epoch: string }
  | {
      op: 'history';
      channel: string;
      publications: readonly Publication[];
      epoch: string;
      offset: number;
    }
  | { op: 'presence'; channel: string; clients: readonly PresenceInfo[] };

export interface SubscribeRequest {
  readonly channel: string;
  /** Resume after this position; without it delivery starts with the next publication. */
  readonly since?: StreamPosition | undefined;
}

export interface SubscribeStart {
  readonly channel: string;
  /** Where delivery starts: everything after this position follows. */
  readonly position: StreamPosition;
  /** The connection's cursor at that point. */
  readonly cursor: string;
}

export interface OpenSessionOptions {
  /** The transport's name, as a label for metrics and operators; core never acts on it. */
  readonly transport: TransportName;
  readonly identity: Identity;
  readonly sink: SessionSink;
  /** The client's address as the transport saw it, for operators; core never acts on it. */
  readonly address?: string | null;
  /**
   * A session that lives for one request (a long poll): not a client connection, so it makes
   * no lifecycle events and counts as no subscriber.
   */
  readonly transient?: boolean;
}

export type { Cursor };

/**
 * What a client publish is rate-limited by: its connection (a session id, or the server's
 * name for an HTTP connection) and its address (null when unknown). Never a value the client
 * chooses: a client that could pick its key could pick a fresh bucket for every publish.
 */
export interface PublishLimitKeys {
  readonly connection: string;
  readonly address: string | null;
}
