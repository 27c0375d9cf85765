import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBroker, storedBytes } from './memory.ts';

const KEEP = { historySize: 1000, historyTtlMs: null };
const data = (n: number) => JSON.stringify('x'.repeat(100) + n);

test('history stays within the memory budget: the oldest go first, whatever their channel', async () => {
  const one = storedBytes('a', data(0));
  const broker = new MemoryBroker({ maxHistoryBytes: one * 10 });
  await broker.start({ publication: () => {}, recovered: () => {} });
  for (let i = 0; i < 6; i++) await broker.publish('a', data(i), KEEP);
  for (let i = 0; i < 6; i++) await broker.publish('b', data(i), KEEP);
  const stats = broker.stats();
  assert.ok(stats.historyBytes <= one * 10, `${stats.historyBytes} bytes held`);
  assert.equal(stats.historyMessages, 10);
  assert.equal(stats.evictedMessages, 2);
  const a = await broker.history('a', {
    since: { epoch: (await broker.history('a', {})).top.epoch, offset: 0 },
  });
  assert.equal(a.earliest, 3, "a's two oldest are gone: a resume from before them sees where history starts");
  assert.deepEqual(
    a.publications.map((p) => p.offset),
    [3, 4, 5, 6],
  );
  assert.equal((await broker.history('b', {})).publications.length, 6, 'newer channels keep theirs');
  await broker.close();
});

test('trimming by size and the budget count the same bytes', async () => {
  const broker = new MemoryBroker({ maxHistoryBytes: 1_000_000 });
  await broker.start({ publication: () => {}, recovered: () => {} });
  for (let i = 0; i < 5000; i++)
    await broker.publish(`c${i % 7}`, data(i), { historySize: 3, historyTtlMs: null });
  const stats = broker.stats();
  assert.equal(stats.historyMessages, 21);
  let held = 0;
  for (let c = 0; c < 7; c++) {
    for (const p of (await broker.history(`c${c}`, {})).publications) held += storedBytes(p.channel, p.data);
  }
  assert.equal(stats.historyBytes, held, 'bytes follow what is held');
  await broker.close();
});

test('past the channel cap the least recently used channel nobody follows is forgotten', async () => {
  const broker = new MemoryBroker({ maxChannels: 3 });
  await broker.start({ publication: () => {}, recovered: () => {} });
  await broker.subscribe('followed');
  await broker.publish('followed', data(0), KEEP);
  const first = await broker.publish('idle', data(0), KEEP);
  for (let i = 0; i < 10; i++) await broker.publish(`one-off-${i}`, data(i), KEEP);
  assert.equal(broker.stats().channels, 3);
  assert.ok(broker.stats().forgottenChannels >= 9);
  const followed = await broker.history('followed', {});
  assert.equal(followed.top.offset, 1, 'a followed channel is never forgotten');
  const idle = await broker.history('idle', {});
  assert.notEqual(idle.top.epoch, first.epoch, 'a forgotten channel starts again in a new epoch');
  await broker.close();
});
