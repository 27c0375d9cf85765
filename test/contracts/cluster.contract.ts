import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type {
  ClusterHandler,
  ClusterRequest,
  ClusterView,
  LostNode,
  NodeInfo,
  OccupancyChange,
} from '../../src/brokers/index.ts';

/** One cluster view implementation under the contract. */
export interface ClusterFactory {
  readonly name: string;
  /** True when the views of one scope are nodes of one deployment. */
  readonly shared: boolean;
  /** True when its scopes have `doomedNode`: nodes that can die apart from the test. */
  readonly killable?: boolean;
  scope(): Promise<ClusterScope>;
}

export interface ClusterNode {
  readonly cluster: ClusterView;
  /** Leaves and closes the broker behind the view. */
  close(): Promise<void>;
}

export interface ClusterScope {
  /** A started broker's cluster view (not joined yet). */
  node(): Promise<ClusterNode>;
  /**
   * Shared views whose nodes can die apart from the test: a node in a process of its own that joins as `id`, reports `counts`,
   * adds `clients` (id -> user) to its roster and is then killed without a word (SIGKILL) when
   * `kill` is called. With `dieWhenTold` it kills itself when told of a lost node, halfway
   * through its claim.
   */
  doomedNode?(
    id: string,
    counts: Record<string, number>,
    clients?: Record<string, string | null>,
    options?: { dieWhenTold?: boolean },
  ): Promise<{ kill(): Promise<void>; readonly exited: Promise<void> }>;
  /** How long until a killed node's lease has surely run out and been claimed. */
  readonly lostWithinMs: number;
  /** Shared views only: how long until a claim whose claimer died is surely claimed again. */
  readonly reclaimedWithinMs?: number;
  dispose(): Promise<void>;
}

/** Records what a cluster reports to its node, and answers bus requests. */
export class RecordingClusterHandler implements ClusterHandler {
  readonly lost: LostNode[] = [];
  readonly occupancies: OccupancyChange[] = [];
  readonly requests: ClusterRequest[] = [];

  constructor(
    private readonly answer: (request: ClusterRequest) => Promise<unknown> | unknown = () => null,
  ) {}

  async request(request: ClusterRequest): Promise<unknown> {
    this.requests.push(request);
    return this.answer(request);
  }

  nodeLost(lost: LostNode): void {
    this.lost.push(lost);
  }

  occupancy(change: OccupancyChange): void {
    this.occupancies.push(change);
  }
}

/** Occupancy changes without their numbers (checked apart: they depend on the clock). */
function changes(list: readonly OccupancyChange[]) {
  return list.map(({ channel, occupied }) => ({ channel, occupied }));
}

/** Numbers rise through `list`, each above the one before. */
function assertRising(list: readonly number[], what: string) {
  for (let i = 1; i < list.length; i++) assert.ok(list[i]! > list[i - 1]!, `${what}: ${list.join(', ')}`);
}

export function nodeInfo(id: string): NodeInfo {
  return { id, version: '0.0.0-test', startedAt: Date.now(), host: 'test-host' };
}

/** Polls `check` until it holds; fails after `timeoutMs` (a failure bound, not a wait). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const unique = () => randomBytes(4).toString('hex');

export function clusterContract(factory: ClusterFactory): void {
  describe(`ClusterView contract: ${factory.name}`, () => {
    let scope: ClusterScope;
    const open: ClusterNode[] = [];

    beforeEach(async () => {
      scope = await factory.scope();
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((node) => node.close()));
      await scope.dispose();
    });

    async function joined(id: string, handler = new RecordingClusterHandler()) {
      const node = await scope.node();
      open.push(node);
      await node.cluster.join(nodeInfo(id), handler);
      return { cluster: node.cluster, handler, node };
    }

    test('a node that joined is listed with what it announced', async () => {
      const id = `n-${unique()}`;
      const { cluster } = await joined(id);
      const nodes = await cluster.nodes();
      assert.deepEqual(
        nodes.map(({ id, version, host }) => ({ id, version, host })),
        [{ id, version: '0.0.0-test', host: 'test-host' }],
      );
      assert.ok(nodes[0]!.leaseExpiresAt > Date.now() - 1000);
    });

    test('reported counts page through channels by name, with a prefix', async () => {
      const { cluster } = await joined(`n-${unique()}`);
      const counts = new Map<string, number>();
      for (let i = 0; i < 25; i++) counts.set(`room:${String(i).padStart(2, '0')}`, i + 1);
      counts.set('other', 7);
      await cluster.report(counts);
      const seen: string[] = [];
      let after: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await cluster.channels({ prefix: 'room:', after, limit: 10 });
        for (const { channel, subscribers } of page.channels) {
          assert.equal(subscribers, counts.get(channel));
          seen.push(channel);
        }
        if (page.next === null) break;
        after = page.next;
      }
      assert.deepEqual(
        seen,
        [...counts.keys()].filter((name) => name.startsWith('room:')),
      );
      const all = await cluster.channels({ limit: 100 });
      assert.deepEqual(
        all.channels.map((entry) => entry.channel),
        [...counts.keys()].sort(),
      );
      assert.equal(all.next, null);
    });

    test('a count of 0 removes the channel; occupied and vacated are told once each', async () => {
      const { cluster, handler } = await joined(`n-${unique()}`);
      await cluster.report(new Map([['c', 1]]));
      await cluster.report(new Map([['c', 3]]));
      assert.deepEqual((await cluster.channels({ limit: 10 })).channels, [{ channel: 'c', subscribers: 3 }]);
      await cluster.report(new Map([['c', 0]]));
      assert.deepEqual((await cluster.channels({ limit: 10 })).channels, []);
      assert.deepEqual(changes(handler.occupancies), [
        { channel: 'c', occupied: true },
        { channel: 'c', occupied: false },
      ]);
      assertRising(
        handler.occupancies.map((change) => change.seq),
        'occupied and vacated are numbered in order',
      );
    });

    test('turns are numbered one by one with their crossings, which are not told to the handler', async () => {
      const { cluster, handler } = await joined(`n-${unique()}`);
      const first = await cluster.turn('t', 1);
      assert.ok(first.edgeSeq !== null && first.occupied, 'the first subscriber occupies the channel');
      assert.equal(first.seq, first.edgeSeq + 1, 'occupied is numbered just before the subscribe');
      const second = await cluster.turn('t', 2);
      assert.deepEqual(second, { seq: first.seq + 1, edgeSeq: null, occupied: true });
      const third = await cluster.turn('t', 1);
      assert.deepEqual(third, { seq: first.seq + 2, edgeSeq: null, occupied: true });
      const last = await cluster.turn('t', 0);
      assert.deepEqual(last, { seq: first.seq + 3, edgeSeq: first.seq + 4, occupied: false });
      assert.deepEqual(handler.occupancies, [], "a turn's crossings are returned, not told");
      assert.deepEqual((await cluster.channels({ limit: 10 })).channels, []);
      const again = await cluster.turn('t', 1);
      assert.ok(again.edgeSeq! > last.edgeSeq!, 'a forgotten channel starts a run above its old numbers');
      await cluster.report(new Map([['t', 0]]));
      assert.deepEqual(handler.occupancies, [{ channel: 't', occupied: false, seq: again.seq + 1 }]);
    });

    test('a broadcast reaches every node and gathers their replies; a failing node fails alone', async () => {
      const id = `n-${unique()}`;
      const { cluster, handler } = await joined(
        id,
        new RecordingClusterHandler((request) => {
          if (request.type === 'fail') throw new Error('nope');
          return { echo: request.body };
        }),
      );
      assert.deepEqual(await cluster.broadcast({ type: 'echo', body: { n: 1 } }, 2000), [
        { node: id, ok: true, body: { echo: { n: 1 } } },
      ]);
      assert.deepEqual(await cluster.broadcast({ type: 'fail', body: null }, 2000), [
        { node: id, ok: false, error: 'nope' },
      ]);
      assert.deepEqual(
        handler.requests.map((request) => request.type),
        ['echo', 'fail'],
      );
    });

    test('revocations are kept with the later time winning', async () => {
      const { cluster } = await joined(`n-${unique()}`);
      const now = Date.now();
      await cluster.revocations.add('alice', now - 2000, 60_000);
      await cluster.revocations.add('alice', now - 3000, 60_000);
      await cluster.revocations.add('bob', now - 1000, 60_000);
      await cluster.revocations.add('carol', now - 120_000, 60_000);
      assert.deepEqual(
        await cluster.revocations.list(),
        new Map([
          ['alice', now - 2000],
          ['bob', now - 1000],
        ]),
        'the later time wins, and one older than its TTL is gone',
      );
    });

    test('leaving is safe twice, and so is closing after it', async () => {
      const { cluster, node } = await joined(`n-${unique()}`);
      await cluster.report(new Map([['gone', 2]]));
      await cluster.leave();
      await cluster.leave();
      open.splice(open.indexOf(node), 1);
      await node.close();
    });

    if (!factory.shared) return;
    const killless = factory.killable ? false : 'its nodes cannot die apart from the test';

    test('counts of every node add up, and occupancy changes only at 0 cluster-wide', async () => {
      const a = await joined(`a-${unique()}`);
      const b = await joined(`b-${unique()}`);
      const ids = (await a.cluster.nodes()).map((node) => node.id);
      assert.equal(ids.length, 2);
      assert.deepEqual(
        (await b.cluster.nodes()).map((node) => node.id),
        ids,
      );
      await a.cluster.report(new Map([['shared', 2]]));
      await b.cluster.report(new Map([['shared', 3]]));
      assert.deepEqual((await b.cluster.channels({ limit: 10 })).channels, [
        { channel: 'shared', subscribers: 5 },
      ]);
      await a.cluster.report(new Map([['shared', 0]]));
      assert.deepEqual((await a.cluster.channels({ limit: 10 })).channels, [
        { channel: 'shared', subscribers: 3 },
      ]);
      await b.cluster.leave();
      assert.deepEqual((await a.cluster.channels({ limit: 10 })).channels, []);
      assert.equal((await a.cluster.nodes()).length, 1, 'the node that left is not listed');
      const told = [...a.handler.occupancies, ...b.handler.occupancies];
      assert.deepEqual(changes(told), [
        { channel: 'shared', occupied: true },
        { channel: 'shared', occupied: false },
      ]);
      assert.deepEqual(changes(a.handler.occupancies), [{ channel: 'shared', occupied: true }]);
      assertRising(
        told.map((change) => change.seq),
        'numbers rise across nodes',
      );
      assert.equal(a.handler.lost.length + b.handler.lost.length, 0, 'a node that left is not lost');
    });

    test('turns on two nodes share one sequence; the channel is vacated only when both left', async () => {
      const a = await joined(`a-${unique()}`);
      const b = await joined(`b-${unique()}`);
      const turns = [
        await a.cluster.turn('room', 1),
        await b.cluster.turn('room', 1),
        await a.cluster.turn('room', 2),
        await a.cluster.turn('room', 0),
        await b.cluster.turn('room', 0),
      ];
      assert.deepEqual(
        turns.map((turn) => [turn.edgeSeq === null ? null : turn.edgeSeq - turn.seq, turn.occupied]),
        [
          [-1, true],
          [null, true],
          [null, true],
          [null, true],
          [1, false],
        ],
        'occupied with the first subscribe, vacated with the last unsubscribe, on whichever node',
      );
      const numbers = turns.flatMap((turn) =>
        turn.edgeSeq === null
          ? [turn.seq]
          : turn.occupied
            ? [turn.edgeSeq, turn.seq]
            : [turn.seq, turn.edgeSeq],
      );
      assert.deepEqual(
        numbers,
        numbers.map((_, i) => numbers[0]! + i),
        'one number after the other',
      );
      assert.equal(a.handler.occupancies.length + b.handler.occupancies.length, 0);
    });

    test('a broadcast gets one reply per node', async () => {
      const a = await joined(`a-${unique()}`, new RecordingClusterHandler(() => 'from a'));
      const b = await joined(`b-${unique()}`, new RecordingClusterHandler(() => 'from b'));
      const replies = await b.cluster.broadcast({ type: 'who', body: null }, 2000);
      const ids = [(await a.cluster.nodes())[0]!.id, (await a.cluster.nodes())[1]!.id];
      assert.deepEqual(
        replies.map((reply) => reply.node),
        ids,
      );
      assert.deepEqual(replies.map((reply) => (reply.ok ? reply.body : reply.error)).sort(), [
        'from a',
        'from b',
      ]);
    });

    test('a node killed without a word is reported lost once, and its counts and channels go', {
      skip: killless,
    }, async () => {
      const a = await joined(`a-${unique()}`);
      const b = await joined(`b-${unique()}`);
      await a.cluster.report(new Map([['both', 1]]));
      const doomedId = `doomed-${unique()}`;
      const doomed = await scope.doomedNode!(
        doomedId,
        { both: 2, alone: 4 },
        { [`${doomedId}-1`]: 'alice', [`${doomedId}-2`]: null },
      );
      await eventually(
        async () => (await a.cluster.channels({ limit: 10 })).channels.length === 2,
        'the doomed node to report',
      );
      assert.deepEqual((await a.cluster.channels({ limit: 10 })).channels, [
        { channel: 'alone', subscribers: 4 },
        { channel: 'both', subscribers: 3 },
      ]);
      await doomed.kill();
      await eventually(
        () => a.handler.lost.length + b.handler.lost.length > 0,
        'a live node to report the lost one',
        scope.lostWithinMs,
      );
      const [lost, ...more] = [...a.handler.lost, ...b.handler.lost];
      assert.equal(more.length, 0, 'reported on one node only');
      assert.equal(lost!.node.id, doomedId);
      assert.deepEqual(
        lost!.channels,
        new Map([
          ['alone', 4],
          ['both', 2],
        ]),
      );
      assert.deepEqual(
        [...lost!.clients].sort((x, y) => (x.clientId < y.clientId ? -1 : 1)),
        [
          { clientId: `${doomedId}-1`, user: 'alice' },
          { clientId: `${doomedId}-2`, user: null },
        ],
        'its clients, for their disconnects',
      );
      assert.deepEqual((await a.cluster.channels({ limit: 10 })).channels, [
        { channel: 'both', subscribers: 1 },
      ]);
      assert.deepEqual((await a.cluster.nodes()).map((node) => node.id).includes(doomedId), false);
      const vacated = [...a.handler.occupancies, ...b.handler.occupancies].filter(
        (change) => !change.occupied,
      );
      assert.deepEqual(changes(vacated), [{ channel: 'alone', occupied: false }]);
    });

    test('a node that dies while telling of a lost node leaves the telling to another', {
      skip: killless,
    }, async () => {
      const doomedId = `doomed-${unique()}`;
      const doomed = await scope.doomedNode!(doomedId, { orphan: 3 }, { [`${doomedId}-1`]: 'bob' });
      const claimerId = `claimer-${unique()}`;
      const claimer = await scope.doomedNode!(claimerId, {}, {}, { dieWhenTold: true });
      await doomed.kill();
      // The claimer is the only live node: it claims the doomed one and dies on the spot.
      let claimed = false;
      void claimer.exited.then(() => {
        claimed = true;
      });
      await eventually(() => claimed, 'the claimer to claim and die', scope.lostWithinMs);
      const a = await joined(`a-${unique()}`);
      await eventually(
        () => a.handler.lost.some((lost) => lost.node.id === doomedId),
        'the doomed node to be claimed again',
        scope.reclaimedWithinMs!,
      );
      const lost = a.handler.lost.find((entry) => entry.node.id === doomedId)!;
      assert.deepEqual(lost.channels, new Map([['orphan', 3]]));
      assert.deepEqual(lost.clients, [{ clientId: `${doomedId}-1`, user: 'bob' }]);
      await eventually(
        () => a.handler.occupancies.some((change) => change.channel === 'orphan'),
        'the orphaned channel to be vacated',
      );
      assert.deepEqual(changes(a.handler.occupancies), [{ channel: 'orphan', occupied: false }]);
      assert.deepEqual((await a.cluster.channels({ limit: 10 })).channels, []);
    });
  });
}
