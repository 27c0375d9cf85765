import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { GapEvent, Message } from '../protocol/index.ts';
import { ResumeState } from './resume.ts';
import type { LinkEvent } from './transports/types.ts';

function collector() {
  const messages: Message[] = [];
  const gaps: GapEvent[] = [];
  return {
    messages,
    gaps,
    delivery: { message: (m: Message) => messages.push(m), gap: (g: GapEvent) => gaps.push(g) },
  };
}

const message = (channel: string, epoch: string, offset: number): LinkEvent => ({
  op: 'message',
  channel,
  epoch,
  offset,
  data: offset,
});

test('replays after reconnects reach the app once and in order (any interleaving of repeats)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.array(fc.tuple(fc.nat(60), fc.nat(20)), { maxLength: 8 }),
      (count, replays) => {
        // The wire: 1..count, where after position `at` the server replays the last `back` again,
        // as it does when a client resumes from a cursor older than what it already has.
        const wire: number[] = [];
        for (let offset = 1; offset <= count; offset++) {
          wire.push(offset);
          for (const [at, back] of replays) {
            if (at === offset) for (let o = Math.max(1, offset - back); o <= offset; o++) wire.push(o);
          }
        }
        const state = new ResumeState();
        const out = collector();
        const channels = new Set(['a']);
        for (const offset of wire) state.ingest(message('a', 'E', offset), channels, out.delivery);
        assert.deepEqual(
          out.messages.map((m) => m.offset),
          Array.from({ length: count }, (_, i) => i + 1),
        );
        assert.equal(out.gaps.length, 0);
      },
    ),
  );
});

test('the resume cursor names each followed channel at its last message', () => {
  const state = new ResumeState();
  const out = collector();
  const channels = new Set(['a', 'b']);
  state.ingest(message('a', 'E1', 4), channels, out.delivery);
  state.ingest(message('b', 'E2', 9), channels, out.delivery);
  assert.equal(state.cursor(['a', 'b']), '1~a~E1~4~b~E2~9');
  assert.equal(state.cursor(['b']), '1~b~E2~9');
  assert.equal(state.cursor(['c']), null);
});

test("a connected event's cursor fills in channels without a message, never moves one back", () => {
  const state = new ResumeState();
  const out = collector();
  const channels = new Set(['a', 'b']);
  state.ingest(message('a', 'E', 7), channels, out.delivery);
  state.ingest(
    { op: 'connected', clientId: 'c1', cursor: '1~a~E~3~b~E~41~x~E~5', heartbeatIntervalMs: null },
    channels,
    out.delivery,
  );
  assert.equal(state.cursor(['a', 'b', 'x']), '1~a~E~7~b~E~41');
  state.ingest({ op: 'cursor', cursor: 'not a cursor' }, channels, out.delivery);
  assert.equal(state.cursor(['a', 'b']), '1~a~E~7~b~E~41');
});

test("the server's gap event is passed on once and moves the channel past the hole", () => {
  const state = new ResumeState();
  const out = collector();
  const channels = new Set(['a']);
  state.ingest(message('a', 'E1', 5), channels, out.delivery);
  const gap: GapEvent = {
    op: 'gap',
    channel: 'a',
    reason: 'epoch',
    epoch: 'E2',
    lastOffset: 5,
    nextOffset: 1,
    cursor: '1~a~E2~0',
  };
  state.ingest(gap, channels, out.delivery);
  state.ingest(gap, channels, out.delivery);
  state.ingest(message('a', 'E2', 1), channels, out.delivery);
  assert.deepEqual(out.gaps, [gap]);
  assert.deepEqual(
    out.messages.map((m) => `${m.epoch}:${m.offset}`),
    ['E1:5', 'E2:1'],
  );
});

test('a hole the server did not report is still reported as a gap', () => {
  const state = new ResumeState();
  const out = collector();
  const channels = new Set(['a']);
  state.ingest(message('a', 'E', 1), channels, out.delivery);
  state.ingest(message('a', 'E', 4), channels, out.delivery);
  state.ingest(message('a', 'F', 1), channels, out.delivery);
  assert.deepEqual(
    out.gaps.map((g) => [g.reason, g.lastOffset, g.nextOffset]),
    [
      ['window', 1, 4],
      ['epoch', 4, 1],
    ],
  );
  assert.equal(out.messages.length, 3);
});

test('channels no longer followed are forgotten, so a later subscribe starts live', () => {
  const state = new ResumeState();
  const out = collector();
  state.ingest(message('a', 'E', 3), new Set(['a']), out.delivery);
  state.ingest(message('b', 'E', 3), new Set(['a']), out.delivery);
  assert.equal(out.messages.length, 1, 'a channel outside the set is not delivered');
  state.retain(new Set());
  assert.equal(state.cursor(['a']), null);
});
