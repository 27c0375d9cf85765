import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type ClientEvent,
  openRawClient,
  type RawClient,
  TRANSPORTS,
  type TransportKind,
  takeMessages,
} from '../helpers/clients.ts';
import { type PrivateRedis, startPrivateRedis, uniquePrefix } from '../helpers/redis.ts';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

type Outcome =
  | { readonly ok: true; readonly offset: number; readonly epoch: string }
  | { readonly ok: false; readonly status: number; readonly code: string };

/** Waits for `check` to hold, asking again every 50 ms; fails after `timeoutMs`. */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function readyz(node: RunningPushwire): Promise<{ status: number; code: string | null }> {
  const response = await fetch(`${node.url}/readyz`);
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, code: body.error?.code ?? null };
}

async function publish(node: RunningPushwire, channel: string, data: unknown): Promise<Outcome> {
  const response = await fetch(`${node.url}/api/publish`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${node.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  const body = (await response.json()) as { offset: number; epoch: string; error?: { code: string } };
  if (response.ok) return { ok: true, offset: body.offset, epoch: body.epoch };
  return { ok: false, status: response.status, code: body.error?.code ?? '' };
}

describe('redis: a restart of Redis under load', () => {
  let redis: PrivateRedis;
  let a: RunningPushwire;
  let b: RunningPushwire;
  const open: RawClient[] = [];

  before(async () => {
    redis = await startPrivateRedis();
    const args = ['--broker', 'redis', '--redis-url', redis.url, '--redis-prefix', uniquePrefix()];
    [a, b] = await Promise.all([startPushwire({ args }), startPushwire({ args })]);
  });
  after(async () => {
    for (const opened of open) opened.close();
    await Promise.all([a, b].map((node) => node?.stop()));
    // The Redis is the test's own and goes away whole: no prefix left to clean.
    await redis?.stop();
  });

  test('publishes fail with 503 during the outage, connections stay open, delivery resumes with an epoch gap', async (t) => {
    const channel = 'restart';
    const subscribe = (kind: TransportKind, cursor: string | null = null) => {
      const opened = openRawClient(kind, b.url, { channels: [channel], cursor });
      open.push(opened);
      return opened;
    };
    const clients = TRANSPORTS.map((kind) => subscribe(kind));
    await Promise.all(clients.map((opened) => opened.ready));
    const first = await a.publish(channel, 'before');
    for (const opened of clients) assert.equal((await takeMessages(opened, 1))[0]!.epoch, first.epoch);

    // The load: a publish on A every 20 ms for as long as the outage lasts, bounded.
    const outcomes: Outcome[] = [];
    let stop = false;
    const loop = (async () => {
      const deadline = Date.now() + 30_000;
      for (let n = 0; n < 1_500 && !stop && Date.now() < deadline; n++) {
        outcomes.push(await publish(a, channel, n));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const renewed = () => outcomes.filter((o) => o.ok && o.epoch !== first.epoch);

    await redis.stop();
    for (const node of [a, b]) {
      await until(async () => (await readyz(node)).status === 503, '/readyz to answer 503');
      assert.equal((await readyz(node)).code, 'broker_unavailable');
    }
    await until(() => outcomes.some((o) => !o.ok), 'a publish to fail');
    await redis.restart();
    for (const node of [a, b]) await until(async () => (await readyz(node)).status === 200, '/readyz 200');
    await until(() => renewed().length >= 5, 'publishes to succeed again');
    stop = true;
    await loop;

    const failures = outcomes.filter((o) => !o.ok);
    t.diagnostic(
      `${failures.length} publishes failed during the outage, ${renewed().length} succeeded after it`,
    );
    for (const failure of failures)
      assert.deepEqual(failure, { ok: false, status: 503, code: 'broker_unavailable' });
    const fresh = renewed() as Extract<Outcome, { ok: true }>[];
    const epoch = fresh[0]!.epoch;
    assert.deepEqual(
      fresh.map((o) => [o.epoch, o.offset]),
      fresh.map((_, i) => [epoch, i + 1]),
      'Redis lost its data: one new epoch, counted from 1',
    );
    for (const node of [a, b]) {
      assert.equal(node.child.exitCode, null, 'the node process is still running');
      assert.equal(node.child.signalCode, null, 'the node process is still running');
    }

    const marker = await a.publish(channel, 'after');
    assert.deepEqual([marker.epoch, marker.offset], [epoch, fresh.length + 1]);
    for (const opened of clients) {
      const seen = await watchUntil(opened, epoch, marker.offset, (cursor) => subscribe(opened.kind, cursor));
      const where = opened.kind;
      if (opened.kind !== 'longpoll') assert.equal(seen.reopened, 0, `${where}: the connection stayed open`);
      assert.equal(seen.gap?.reason, 'epoch', `${where}: an epoch gap is reported`);
      assert.equal(seen.gap?.epoch, epoch, where);
      assert.deepEqual(
        seen.fresh,
        Array.from({ length: marker.offset }, (_, i) => i + 1),
        `${where}: every message of the new epoch, once, in order`,
      );
      const old = seen.old;
      assert.deepEqual(
        old,
        Array.from({ length: old.length }, (_, i) => i + 2),
        `${where}: the old epoch in order`,
      );
      t.diagnostic(
        `${where}: ${old.length} old-epoch messages, gap, ${seen.fresh.length} new-epoch messages`,
      );
    }
  });
});

interface Seen {
  /** Offsets of the old epoch's messages, then of the new one's. */
  readonly old: number[];
  readonly fresh: number[];
  readonly gap: Extract<ClientEvent, { type: 'gap' }> | null;
  /** How often a long poll had to be sent again after a 503 during the outage. */
  readonly reopened: number;
}

/**
 * What a client got until the message at `offset` of `epoch`. A long poll sent during the outage
 * is answered 503 (there is no connection to keep open between polls): it is sent again with
 * its cursor, as a client does. Any other transport closing fails the test.
 */
async function watchUntil(
  first: RawClient,
  epoch: string,
  offset: number,
  reopen: (cursor: string | null) => RawClient,
): Promise<Seen> {
  const old: number[] = [];
  const fresh: number[] = [];
  let gap: Seen['gap'] = null;
  let reopened = 0;
  let current = first;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const event = await current.events.next(
      Math.max(1, deadline - Date.now()),
      `${first.kind}: offset ${offset}`,
    );
    if (event.type === 'message') {
      if (event.epoch !== epoch) old.push(event.offset);
      else {
        assert.ok(gap, `${first.kind}: the gap comes before the new epoch's messages`);
        fresh.push(event.offset);
        if (event.offset === offset) return { old, fresh, gap, reopened };
      }
    } else if (event.type === 'gap') {
      assert.equal(gap, null, `${first.kind}: one gap`);
      gap = event;
    } else if (event.type === 'closed') {
      assert.ok(first.kind === 'longpoll', `${first.kind} closed: ${event.detail}`);
      assert.match(event.detail, /503.*broker_unavailable/, 'a poll during the outage: 503');
      if (++reopened > 100) throw new Error('long poll failed more than 100 times');
      await new Promise((resolve) => setTimeout(resolve, 100));
      current = reopen(current.cursor());
    } else if (event.type !== 'ping' && event.type !== 'connected') {
      throw new Error(`${first.kind}: unexpected ${JSON.stringify(event)}`);
    }
  }
}
