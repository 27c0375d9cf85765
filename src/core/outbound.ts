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

/**
 * The messages of one channel fanned out in one event-loop turn, oldest first. A connection
 * on that channel alone gets the whole batch as one write of bytes shared by every such
 * connection (encoded once per transport), which is what keeps a busy channel cheap.
 */
export class OutboundBatch {
  readonly channel: string;
  readonly messages: readonly OutboundMessage[];
  /** True when offsets rise by exactly 1 within one epoch across the batch. */
  readonly contiguous: boolean;
  private readonly encodings = new Map<object, unknown>();

  constructor(messages: readonly OutboundMessage[]) {
    const first = messages[0]!;
    this.channel = first.channel;
    this.messages = messages;
    let contiguous = true;
    for (let i = 1; i < messages.length; i++) {
      const message = messages[i]!;
      if (message.epoch !== first.epoch || message.offset !== first.offset + i) contiguous = false;
    }
    this.contiguous = contiguous;
  }

  get last(): OutboundMessage {
    return this.messages[this.messages.length - 1]!;
  }

  /** Like OutboundMessage.encoded: computed on first use, shared after. */
  encoded<T>(encoder: (batch: OutboundBatch) => T): T {
    let value = this.encodings.get(encoder) as T | undefined;
    if (value === undefined) {
      value = encoder(this);
      this.encodings.set(encoder, value);
    }
    return value;
  }
}

/** Joins the shared encodings of a batch's messages; one message's bytes are used as they are. */
export function concatEncoded(batch: OutboundBatch, encoder: (message: OutboundMessage) => Buffer): Buffer {
  if (batch.messages.length === 1) return batch.messages[0]!.encoded(encoder);
  return Buffer.concat(batch.messages.map((message) => message.encoded(encoder)));
}
