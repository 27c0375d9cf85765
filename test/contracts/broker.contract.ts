import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Broker, BrokerHandler, PresenceInfo, PublishOptions } from '../../src/brokers/index.ts';
import { type Publication, PushwireError } from '../../src/protocol/index.ts';

/** One broker implementation under the contract. */
export interface BrokerFactory {
  readonly name: string;
  /**
   * True when brokers of one scope are nodes of one deployment: they share streams, delivery
   * and presence, and presence entries expire on their own.
   */
  readonly shared: boolean;
  /** A fresh scope per test (e.g. a Redis key prefix); `node()` makes an unstarted broker in it. */
  scope(): Promise<BrokerScope>;
  /** Brokers that depend on a server of their own (Redis): a scope whose server a test can stop. */
  outage?(): Promise<OutageScope>;
}

export interface BrokerScope {
  node(): Broker;
  dispose(): Promise<void>;
}

export interface OutageScope extends BrokerScope {
  /** A credential in the broker's connection settings that no error or log line may repeat. */
  readonly secret: string;
  /** What the brokers of this scope logged so far, one line per entry. */
  readonly logged: readonly string[];
  /** Stops the server the brokers depend on (by PID), for good. */
  stopServer(): Promise<void>;
}

const OPTIONS: PublishOptions = { historySize: 100, historyTtlMs: 300_000 };
const WAIT_MS = 5000;

/** Rejects with a PushwireError `code` whose message doesn't contain `secret`. */
async function rejectsWith(
  work: Promise<unknown>,
  code: string,
  secret: string | null = null,
): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(error instanceof PushwireError, `a PushwireError, not ${String(error)}`);
    assert.equal(error.code, code);
    if (secret !== null) assert.ok(!error.message.includes(secret), `no credential in "${error.message}"`);
    return true;
  });
}

/** A handler that records what its broker reports and lets a test await the next event. */
export class RecordingHandler implements BrokerHandler {
  readonly publications: Publication[] = [];
  recoveries = 0;
  private waiters: Array<() => void> = [];

  publication(publication: Publication): void {
    this.publications.push(publication);
    this.wake();
  }

  recovered(): void {
    this.recoveries++;
    this.wake();
  }

  of(channel: string): Publication[] {
    return this.publications.filter((p) => p.channel === channel);
  }

  /** Resolves once `condition` holds; rejects after `timeoutMs` (a failure bound, not a wait). */
  async until(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Records like RecordingHandler, and throws from the first publication it is given. */
class ThrowingOnceHandler extends RecordingHandler {
  thrown = 0;

  override publication(publication: Publication): void {
    super.publication(publication);
    if (this.thrown === 0) {
      this.thrown++;
      throw new Error('a node failing on its first publication');
    }
  }
}

const PRESENT: PresenceInfo = { clientId: 'c-present', userId: null, connectedAt: 1_700_000_000_000 };

export function channelName(label: string): string {
  return `test:${label}-${randomBytes(4).toString('hex')}`;
}

const data = (n: number): string => JSON.stringify({ n, text: `message ${n}` });

/**
 * Clock-driven expiry (history TTL, presence TTL) has no event to await and Redis's clock can't
 * be faked: poll until `check` holds, bounded.
 */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Everything src/brokers/types.ts promises, asserted through the Broker interface only. */
export function brokerContract(factory: BrokerFactory): void {
  describe(`Broker contract: ${factory.name}`, () => {
    let scope: BrokerScope;
    let started: Broker[] = [];

    async function node(): Promise<{ broker: Broker; handler: RecordingHandler }> {
      const broker = scope.node();
      const handler = new RecordingHandler();
      await broker.start(handler);
      started.push(broker);
      return { broker, handler };
    }

    beforeEach(async () => {
      scope = await factory.scope();
      started = [];
    });
    afterEach(async () => {
      await Promise.all(started.map((broker) => broker.close()));
      await scope.dispose();
    });

    describe('publish and delivery', () => {
      test('offsets rise by exactly 1 from 1 in one stable epoch; the handler gets what publish returned', async () => {
        const { broker, handler } = await node();
        const channel = channelName('offsets');
        await broker.subscribe(channel);
        const returned: Publication[] = [];
        for (let n = 1; n <= 5; n++) returned.push(await broker.publish(channel, data(n), OPTIONS));
        assert.deepEqual(
          returned.map((p) => p.offset),
          [1, 2, 3, 4, 5],
        );
        assert.equal(new Set(returned.map((p) => p.epoch)).size, 1);
        for (const p of returned) {
          assert.equal(p.channel, channel);
          assert.ok(
            Number.isSafeInteger(p.time) && Math.abs(p.time - Date.now()) < 60_000,
            'time is a ms timestamp',
          );
        }
        await handler.until(() => handler.of(channel).length === 5, '5 publications');
        assert.deepEqual(handler.of(channel), returned);
      });

      test('concurrent publishes are delivered once each, in offset order, including own ones', async () => {
        const { broker, handler } = await node();
        const channel = channelName('order');
        await broker.subscribe(channel);
        const returned = await Promise.all(
          Array.from({ length: 50 }, (_, n) => broker.publish(channel, data(n), OPTIONS)),
        );
        assert.deepEqual(
          returned.map((p) => p.offset).sort((a, b) => a - b),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        await handler.until(() => handler.of(channel).length >= 50, '50 publications');
        const delivered = handler.of(channel);
        assert.deepEqual(
          delivered.map((p) => p.offset),
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        const byOffset = new Map(returned.map((p) => [p.offset, p]));
        for (const p of delivered) assert.deepEqual(p, byOffset.get(p.offset));
      });

      test('offsets are counted per channel', async () => {
        const { broker } = await node();
        const a = channelName('a');
        const b = channelName('b');
        assert.equal((await broker.publish(a, data(1), OPTIONS)).offset, 1);
        assert.equal((await broker.publish(a, data(2), OPTIONS)).offset, 2);
        assert.equal((await broker.publish(b, data(1), OPTIONS)).offset, 1);
      });

      test('delivers only while subscribed: nothing before subscribe or after unsubscribe', async () => {
        const { broker, handler } = await node();
        const channel = channelName('unsub');
        await broker.publish(channel, data(1), OPTIONS);
        await broker.subscribe(channel);
        await broker.publish(channel, data(2), OPTIONS);
        await handler.until(() => handler.of(channel).length === 1, 'offset 2');
        await broker.unsubscribe(channel);
        await broker.publish(channel, data(3), OPTIONS);
        // Same channel, so same link and order: offset 3, had it been delivered, comes before 4.
        await broker.subscribe(channel);
        await broker.publish(channel, data(4), OPTIONS);
        await handler.until(() => handler.of(channel).some((p) => p.offset === 4), 'offset 4');
        assert.deepEqual(
          handler.of(channel).map((p) => p.offset),
          [2, 4],
        );
      });

      test('the data text is delivered byte for byte', async () => {
        const { broker, handler } = await node();
        const channel = channelName('bytes');
        await broker.subscribe(channel);
        const texts = ['"a b  c"', '{"x":"1 2 3","emoji":"\u{1F600}","nl":"\\n"}', '[1, 2,3]', 'null', '" "'];
        for (const text of texts) await broker.publish(channel, text, OPTIONS);
        await handler.until(() => handler.of(channel).length === texts.length, 'every text');
        assert.deepEqual(
          handler.of(channel).map((p) => p.data),
          texts,
        );
        const history = await broker.history(channel, {});
        assert.deepEqual(
          history.publications.map((p) => p.data),
          texts,
        );
      });
    });

    describe('history', () => {
      async function published(count: number, options = OPTIONS) {
        const { broker } = await node();
        const channel = channelName('history');
        const returned: Publication[] = [];
        for (let n = 1; n <= count; n++) returned.push(await broker.publish(channel, data(n), options));
        return { broker, channel, returned, epoch: returned[0]?.epoch ?? '' };
      }
      const offsets = (publications: readonly Publication[]) => publications.map((p) => p.offset);

      test('a never-published channel is at offset 0 in a stable epoch that the first publish keeps', async () => {
        const { broker } = await node();
        const channel = channelName('fresh');
        const first = await broker.history(channel, {});
        assert.deepEqual(first.publications, []);
        assert.equal(first.top.offset, 0);
        assert.equal(first.earliest, 1);
        const again = await broker.history(channel, { limit: 0 });
        assert.equal(again.top.epoch, first.top.epoch);
        const publication = await broker.publish(channel, data(1), OPTIONS);
        assert.equal(publication.epoch, first.top.epoch);
        assert.equal(publication.offset, 1);
      });

      test('since a position of the current epoch: what came after it, oldest first', async () => {
        const { broker, channel, returned, epoch } = await published(5);
        const result = await broker.history(channel, { since: { epoch, offset: 2 } });
        assert.deepEqual(result.publications, returned.slice(2));
        assert.deepEqual(result.top, { epoch, offset: 5 });
        assert.equal(result.earliest, 1);
        const upToDate = await broker.history(channel, { since: { epoch, offset: 5 } });
        assert.deepEqual(upToDate.publications, []);
      });

      test('since a position of another epoch: everything held', async () => {
        const { broker, channel, returned } = await published(4);
        const result = await broker.history(channel, { since: { epoch: 'older-epoch', offset: 3 } });
        assert.deepEqual(result.publications, returned);
      });

      test('limit caps the count from the oldest after since; limit 0 gives only the positions', async () => {
        const { broker, channel, returned, epoch } = await published(5);
        const limited = await broker.history(channel, { since: { epoch, offset: 1 }, limit: 2 });
        assert.deepEqual(offsets(limited.publications), [2, 3]);
        const positions = await broker.history(channel, { limit: 0 });
        assert.deepEqual(positions.publications, []);
        assert.deepEqual(positions.top, { epoch, offset: 5 });
        assert.equal(positions.earliest, 1);
        const all = await broker.history(channel, {});
        assert.deepEqual(all.publications, returned);
      });

      test('without since: the newest limit publications, oldest first', async () => {
        const { broker, channel, returned } = await published(5);
        const newest = await broker.history(channel, { limit: 2 });
        assert.deepEqual(newest.publications, returned.slice(3));
        const more = await broker.history(channel, { limit: 50 });
        assert.deepEqual(more.publications, returned);
      });

      test('history keeps at most historySize; earliest moves up', async () => {
        const { broker, channel, epoch } = await published(7, { historySize: 3, historyTtlMs: null });
        const result = await broker.history(channel, {});
        assert.deepEqual(offsets(result.publications), [5, 6, 7]);
        assert.equal(result.earliest, 5);
        assert.deepEqual(result.top, { epoch, offset: 7 });
        const since = await broker.history(channel, { since: { epoch, offset: 1 } });
        assert.deepEqual(offsets(since.publications), [5, 6, 7]);
      });

      test('publications younger than historyMinAgeMs stay in history beyond historySize', async () => {
        const { broker, channel, epoch } = await published(7, {
          historySize: 3,
          historyTtlMs: null,
          historyMinAgeMs: 600_000,
        });
        const result = await broker.history(channel, { since: { epoch, offset: 0 } });
        assert.deepEqual(offsets(result.publications), [1, 2, 3, 4, 5, 6, 7]);
        assert.equal(result.earliest, 1);
      });

      test('past historyMinAgeMs the count trims again, on the next publish', async () => {
        const options = { historySize: 3, historyTtlMs: null, historyMinAgeMs: 150 };
        const { broker, channel, returned, epoch } = await published(5, options);
        const last = returned[4]!;
        // The broker's clock (Redis's) is this machine's: wait until the five are old enough.
        await eventually(async () => Date.now() > last.time + 400, 'the publications to age');
        await broker.publish(channel, data(6), options);
        const result = await broker.history(channel, { since: { epoch, offset: 0 } });
        assert.deepEqual(offsets(result.publications), [4, 5, 6]);
        assert.equal(result.earliest, 4);
      });

      test('historySize 0 keeps nothing while offsets still rise', async () => {
        const { broker, channel, returned, epoch } = await published(3, {
          historySize: 0,
          historyTtlMs: null,
        });
        assert.deepEqual(offsets(returned), [1, 2, 3]);
        const result = await broker.history(channel, {});
        assert.deepEqual(result.publications, []);
        assert.deepEqual(result.top, { epoch, offset: 3 });
        assert.equal(result.earliest, 4);
      });

      test('publications older than historyTtlMs leave history; the position stays', async () => {
        const short = { historySize: 10, historyTtlMs: 150 };
        const { broker, channel, epoch } = await published(2, short);
        await eventually(
          async () => (await broker.history(channel, {})).publications.length === 0,
          'history to expire',
        );
        const expired = await broker.history(channel, {});
        assert.deepEqual(expired.top, { epoch, offset: 2 });
        assert.equal(expired.earliest, 3);
        const next = await broker.publish(channel, data(3), OPTIONS);
        assert.deepEqual({ epoch: next.epoch, offset: next.offset }, { epoch, offset: 3 });
        const result = await broker.history(channel, { since: { epoch, offset: 0 } });
        assert.deepEqual(offsets(result.publications), [3]);
        assert.equal(result.earliest, 3);
      });
    });

    describe('presence', () => {
      const info = (clientId: string, userId: string | null = null): PresenceInfo => ({
        clientId,
        userId,
        connectedAt: 1_700_000_000_000,
      });
      const byId = (list: PresenceInfo[]) => [...list].sort((a, b) => a.clientId.localeCompare(b.clientId));

      test('join, refresh, leave and list', async () => {
        const { broker } = await node();
        const channel = channelName('presence');
        assert.deepEqual(await broker.presence.list(channel), []);
        await broker.presence.join(channel, info('c1', 'u1'), 60_000);
        await broker.presence.join(channel, info('c2'), 60_000);
        await broker.presence.join(channel, info('c1', 'u1'), 60_000);
        assert.deepEqual(byId(await broker.presence.list(channel)), [info('c1', 'u1'), info('c2')]);
        await broker.presence.leave(channel, 'c1');
        assert.deepEqual(await broker.presence.list(channel), [info('c2')]);
        await broker.presence.leave(channel, 'c2');
        await broker.presence.leave(channel, 'never-joined');
        assert.deepEqual(await broker.presence.list(channel), []);
      });

      if (factory.shared) {
        test('entries expire on their own after ttlMs', async () => {
          const { broker } = await node();
          const channel = channelName('presence-ttl');
          await broker.presence.join(channel, info('short'), 100);
          await broker.presence.join(channel, info('long'), 60_000);
          await eventually(async () => (await broker.presence.list(channel)).length === 1, 'expiry');
          assert.deepEqual(await broker.presence.list(channel), [info('long')]);
        });
      }
    });

    describe('lifecycle', () => {
      test('close is safe twice; after close every operation but unsubscribe rejects with broker_unavailable', async () => {
        const { broker } = await node();
        const channel = channelName('closed');
        await broker.subscribe(channel);
        await broker.publish(channel, data(1), OPTIONS);
        await broker.close();
        await broker.close();
        await rejectsWith(broker.publish(channel, data(2), OPTIONS), 'broker_unavailable');
        await rejectsWith(broker.history(channel, {}), 'broker_unavailable');
        await rejectsWith(broker.subscribe(channelName('closed-sub')), 'broker_unavailable');
        await rejectsWith(broker.presence.join(channel, PRESENT, 60_000), 'broker_unavailable');
        await rejectsWith(broker.presence.list(channel), 'broker_unavailable');
        await rejectsWith(broker.presence.leave(channel, PRESENT.clientId), 'broker_unavailable');
        // Leaving is what a node does while it shuts down: nothing to refuse.
        await broker.unsubscribe(channel);
      });
    });

    describe('failure isolation', () => {
      test('a handler that throws fails neither the publish nor the deliveries after it', async () => {
        const broker = scope.node();
        const handler = new ThrowingOnceHandler();
        await broker.start(handler);
        started.push(broker);
        const channel = channelName('throwing');
        await broker.subscribe(channel);
        const first = await broker.publish(channel, data(1), OPTIONS);
        const second = await broker.publish(channel, data(2), OPTIONS);
        await handler.until(() => handler.of(channel).length === 2, 'both publications');
        assert.deepEqual(handler.of(channel), [first, second]);
        assert.equal(handler.thrown, 1);
      });
    });

    if (factory.outage) {
      const outageScope = factory.outage.bind(factory);
      describe('outage', () => {
        test('with its server gone every operation rejects with broker_unavailable, naming no credential', async (t) => {
          const outage = await outageScope();
          t.after(() => outage.dispose());
          const broker = outage.node();
          t.after(() => broker.close());
          await broker.start(new RecordingHandler());
          const channel = channelName('outage');
          await broker.subscribe(channel);
          await broker.publish(channel, data(1), OPTIONS);
          await broker.presence.join(channel, PRESENT, 60_000);

          await outage.stopServer();
          const { secret } = outage;
          await rejectsWith(broker.publish(channel, data(2), OPTIONS), 'broker_unavailable', secret);
          await rejectsWith(broker.history(channel, {}), 'broker_unavailable', secret);
          await rejectsWith(broker.subscribe(channelName('outage-sub')), 'broker_unavailable', secret);
          await rejectsWith(broker.presence.join(channel, PRESENT, 60_000), 'broker_unavailable', secret);
          await rejectsWith(broker.presence.list(channel), 'broker_unavailable', secret);
          await rejectsWith(broker.presence.leave(channel, PRESENT.clientId), 'broker_unavailable', secret);
          const late = outage.node();
          t.after(() => late.close());
          await rejectsWith(late.start(new RecordingHandler()), 'broker_unavailable', secret);
          assert.ok(outage.logged.length > 0, 'the outage was logged');
          for (const line of outage.logged)
            assert.ok(!line.includes(secret), `no credential in the log: ${line}`);
        });
      });
    }

    if (factory.shared) {
      describe('two nodes', () => {
        test('a publish on one node reaches the other with the same position', async () => {
          const a = await node();
          const b = await node();
          const channel = channelName('nodes');
          await b.broker.subscribe(channel);
          const publication = await a.broker.publish(channel, data(1), OPTIONS);
          await b.handler.until(() => b.handler.of(channel).length === 1, 'the other node');
          assert.deepEqual(b.handler.of(channel), [publication]);
          assert.deepEqual(a.handler.of(channel), [], 'a node that did not subscribe gets nothing');
          const history = await b.broker.history(channel, {});
          assert.deepEqual(history.publications, [publication]);
        });

        test('both nodes publishing: one sequence of offsets, seen in the same order by both', async () => {
          const a = await node();
          const b = await node();
          const channel = channelName('nodes-both');
          await Promise.all([a.broker.subscribe(channel), b.broker.subscribe(channel)]);
          const returned = await Promise.all(
            Array.from({ length: 40 }, (_, n) =>
              (n % 2 === 0 ? a : b).broker.publish(channel, data(n), OPTIONS),
            ),
          );
          const expected = Array.from({ length: 40 }, (_, i) => i + 1);
          assert.deepEqual(
            returned.map((p) => p.offset).sort((x, y) => x - y),
            expected,
          );
          assert.equal(new Set(returned.map((p) => p.epoch)).size, 1);
          for (const { handler } of [a, b]) {
            await handler.until(() => handler.of(channel).length >= 40, '40 publications');
            assert.deepEqual(
              handler.of(channel).map((p) => p.offset),
              expected,
            );
          }
        });

        test('presence joined on one node is listed on the other', async () => {
          const a = await node();
          const b = await node();
          const channel = channelName('nodes-presence');
          const entry: PresenceInfo = { clientId: 'c-a', userId: 'u', connectedAt: 1 };
          await a.broker.presence.join(channel, entry, 60_000);
          assert.deepEqual(await b.broker.presence.list(channel), [entry]);
          await b.broker.presence.leave(channel, 'c-a');
          assert.deepEqual(await a.broker.presence.list(channel), []);
        });
      });
    }
  });
}
