import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runOrder } from './scenarios.ts';

test('repeats are made in rounds, every other round backwards', () => {
  const order = runOrder(3, 4).map(({ index, run }) => `${index}.${run}`);
  assert.deepEqual(order, [
    '0.0',
    '1.0',
    '2.0',
    '2.1',
    '1.1',
    '0.1',
    '0.2',
    '1.2',
    '2.2',
    '2.3',
    '1.3',
    '0.3',
  ]);
});

test('over an even number of rounds every case has the same mean place in time', () => {
  const order = runOrder(4, 6);
  const places = [0, 1, 2, 3].map((index) =>
    order.reduce((sum, run, place) => (run.index === index ? sum + place : sum), 0),
  );
  assert.equal(new Set(places).size, 1);
  for (const index of [0, 1, 2, 3]) {
    assert.deepEqual(
      order.filter((run) => run.index === index).map((run) => run.run),
      [0, 1, 2, 3, 4, 5],
    );
  }
});

test('one run of each case, in order, without --repeat', () => {
  assert.deepEqual(runOrder(2, 1), [
    { index: 0, run: 0 },
    { index: 1, run: 0 },
  ]);
  assert.deepEqual(runOrder(0, 3), []);
});
