import {
  decodeCursor,
  encodeCursor,
  type GapEvent,
  type Message,
  type StreamPosition,
} from '../protocol/index.ts';
import type { LinkEvent } from './transports/types.ts';

/** The channels a state follows: a Set, or the keys of a Map of handlers. */
export type ChannelSet = Pick<ReadonlySet<string>, 'has'>;

export interface Delivery {
  message(message: Message): void;
  gap(gap: GapEvent): void;
}

/**
 * Where the client stands on each channel: the one place resume state lives. Messages and gap
 * events move a channel forward; the cursors of `connected` events and subscribe replies fill
 * in channels that have had no message yet. Every reconnect, on any transport, resumes from
 * `cursor()`, and anything at or before a channel's position is a duplicate and dropped, so
 * the app sees each (channel, epoch, offset) once and in order.
 */
export class ResumeState {
  readonly #positions: Map<string, StreamPosition>;

  /** `cursor`: where to start (the app's saved cursor); throws when it is malformed. */
  constructor(cursor?: string) {
    this.#positions = cursor ? decodeCursor(cursor) : new Map();
  }

  /** The cursor to resume `channels` from, or null when none has a position yet. */
  cursor(channels: Iterable<string>): string | null {
    const known = new Map<string, StreamPosition>();
    for (const channel of channels) {
      const position = this.#positions.get(channel);
      if (position) known.set(channel, position);
    }
    return known.size > 0 ? encodeCursor(known) : null;
  }

  /** Forgets channels outside `channels`: subscribing to one again later starts live. */
  retain(channels: ChannelSet): void {
    for (const channel of this.#positions.keys()) if (!channels.has(channel)) this.#positions.delete(channel);
  }

  /** Takes one event of the current connection (or of the leader tab) for `channels`. */
  ingest(event: LinkEvent, channels: ChannelSet, out: Delivery): void {
    if (event.op === 'message') {
      const { op: _op, ...message } = event;
      if (channels.has(message.channel)) this.#accept(message, out);
    } else if (event.op === 'gap') {
      if (channels.has(event.channel) && this.#moveTo(event.channel, event.epoch, event.nextOffset - 1))
        out.gap(event);
    } else if ('cursor' in event) this.#learn(event.cursor, channels);
  }

  #accept(message: Message, out: Delivery): void {
    const { channel, epoch, offset } = message;
    const last = this.#positions.get(channel);
    if (last && last.epoch === epoch && offset <= last.offset) return;
    // The server reports every break it knows of before the messages after it; a jump it
    // didn't report is still a break, and the app is told rather than left to guess.
    if (last && (last.epoch !== epoch || offset > last.offset + 1)) {
      out.gap({
        op: 'gap',
        channel,
        reason: last.epoch === epoch ? 'window' : 'epoch',
        epoch,
        lastOffset: last.offset,
        nextOffset: offset,
        cursor: message.cursor ?? '',
      });
    }
    this.#positions.set(channel, { epoch, offset });
    out.message(message);
  }

  /** Moves a channel to a position given by the server; false when it's not news. */
  #moveTo(channel: string, epoch: string, offset: number): boolean {
    const last = this.#positions.get(channel);
    if (last && last.epoch === epoch && last.offset >= offset) return false;
    this.#positions.set(channel, { epoch, offset });
    return true;
  }

  #learn(cursor: string, channels: ChannelSet): void {
    let positions: Map<string, StreamPosition>;
    try {
      positions = decodeCursor(cursor);
    } catch {
      return;
    }
    for (const [channel, position] of positions) {
      if (channels.has(channel) && !this.#positions.has(channel)) this.#positions.set(channel, position);
    }
  }
}
