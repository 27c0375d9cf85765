import { type GapReason, type Publication, PushwireError, type StreamPosition } from '../protocol/index.ts';

/*
 * How a subscription resumes from a cursor: everything after it that history still holds,
 * or a gap event first when history no longer reaches back that far or the epoch changed.
 */

export interface PlannedGap {
  readonly reason: GapReason;
  readonly lastOffset: number | null;
}

export interface History {
  readonly publications: readonly Publication[];
  readonly top: StreamPosition;
  readonly earliest: number;
}

/** Where a subscription starts, what it replays and whether it must report a gap first. */
export function plan<S extends { readonly channel: string }>(
  subscription: S,
  since: StreamPosition | undefined,
  { top, earliest, publications }: History,
): {
  subscription: S;
  position: StreamPosition;
  gap: PlannedGap | null;
  replay: readonly Publication[];
} {
  if (!since) return { subscription, position: top, gap: null, replay: [] };
  const sameEpoch = since.epoch === top.epoch;
  if (sameEpoch && since.offset > top.offset) {
    throw new PushwireError('invalid_cursor', `cursor is ahead of channel "${subscription.channel}"`);
  }
  const reason: GapReason | null = !sameEpoch ? 'epoch' : since.offset + 1 < earliest ? 'window' : null;
  if (!reason) return { subscription, position: since, gap: null, replay: publications };
  // Delivery restarts at the oldest message still held, after a gap event says what is lost.
  const position = { epoch: top.epoch, offset: earliest - 1 };
  return { subscription, position, gap: { reason, lastOffset: since.offset }, replay: publications };
}
