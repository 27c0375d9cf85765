import { cursorSegment, type Publication } from '../protocol/index.ts';

/**
 * One publication on its way out of this node. The hub builds it once per publication and
 * hands the same object to every local subscriber, whatever its transport; each transport
 * caches its own framing on it, so a message is serialized once per transport, not once per
 * subscriber.
 */
export class OutboundMessage {
  readonly channel: string;
  readonly offset: number;
  readonly epoch: string;
  /** The payload's JSON text. */
  readonly data: string;
  readonly time: number;
  /** `"channel":…,"offset":…,"epoch":…,"data":…`: the contract's fields, without braces. */
  readonly fields: string;
  /** This message's piece of a cursor: `~channel~epoch~offset`. */
  readonly segment: string;
  private soloCursorText: string | null = null;
  private readonly encodings = new Map<object, unknown>();

  constructor(publication: Publication) {
    this.channel = publication.channel;
    this.offset = publication.offset;
    this.epoch = publication.epoch;
    this.data = publication.data;
    this.time = publication.time;
    // Channel names and epochs are validated to need no JSON escaping.
    this.fields = `"channel":"${this.channel}","offset":${this.offset},"epoch":"${this.epoch}","data":${this.data}`;
    this.segment = cursorSegment(this.channel, this.epoch, this.offset);
  }

  /** The cursor of a connection whose only channel is this one, built once. */
  soloCursor(): string {
    this.soloCursorText ??= `1${this.segment}`;
    return this.soloCursorText;
  }

  /**
   * The framing `encoder` makes of this message, computed on first use and shared after.
   * `encoder` MUST be a long-lived function (it is the cache key) and MUST depend only on
   * the message.
   */
  encoded<T>(encoder: (message: OutboundMessage) => T): T {
    let value = this.encodings.get(encoder) as T | undefined;
    if (value === undefined) {
      value = encoder(this);
      this.encodings.set(encoder, value);
    }
    return value;
  }
}
