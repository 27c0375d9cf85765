import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchArgs, settingsFor } from './options.ts';
import { formatSummaryTable } from './report-table.ts';
import type { BenchResults, ScenarioRecord } from './results.ts';

const fanout = (target: string, transport: string, cpu: number, p99: number, lost: number) =>
  ({
    scenario: 'fanout',
    target,
    transport,
    subscribers: 2000,
    runs: [],
    error: null,
    result: { cpuPerDeliveryUs: cpu, latency: { p99Ms: p99 }, lost, expected: 200_000 },
  }) as unknown as ScenarioRecord;

const connections = (
  scenario: 'idle' | 'connect',
  target: string,
  transport: string,
  kb: number,
  rate: number,
) =>
  ({
    scenario,
    target,
    transport,
    subscribers: 10_000,
    runs: [],
    error: null,
    result: { memoryPerConnectionKb: kb, connectionsPerSec: rate },
  }) as unknown as ScenarioRecord;

test('the summary: a row per transport, each cell Pushwire / raw / Nchan / Socket.IO', () => {
  const results = {
    options: parseBenchArgs(['--headline']),
    scenarios: [
      fanout('pushwire', 'ws', 3.2, 438, 0),
      fanout('raw', 'ws', 4.5, 428, 0),
      fanout('socketio', 'ws', 25.4, 900, 0),
      fanout('pushwire', 'poll', 4.4, 2102, 6920),
      connections('idle', 'pushwire', 'ws', 7.7, 0),
      connections('idle', 'raw', 'ws', 6.1, 0),
      connections('connect', 'pushwire', 'ws', 0, 2100),
    ],
  } as unknown as BenchResults;
  const table = formatSummaryTable(results);
  assert.match(table, /^Each cell: Pushwire \/ raw \/ Nchan \/ Socket\.IO\. pushwire: default settings/);
  assert.match(
    table,
    /\| transport \| CPU µs\/delivery \(N = 2,000\) \| p99 ms \(N = 2,000\) \| lost \(N = 2,000\) \| idle KB\/conn \(N = 10,000\) \| connections\/s \(N = 10,000\) \|/,
  );
  assert.match(
    table,
    /\| WebSocket \| 3\.20 \/ 4\.50 \/ – \/ 25\.40 \| 438 \/ 428 \/ – \/ 900 \| 0 \/ 0 \/ – \/ 0 \| 7\.7 \/ 6\.1 \/ – \/ – \| 2,100 \/ – \/ – \/ – \|/,
  );
  assert.match(
    table,
    /\| long poll \| 4\.40 \/ – \/ – \/ – \| 2102 \/ – \/ – \/ – \| 3\.46 % \/ – \/ – \/ – \|/,
  );
  assert.doesNotMatch(table, /\| SSE \|/, 'no row for a transport nothing ran on');
});

test('--headline runs fanout at 2,000 and idle and connect at 10,000, every target', () => {
  const options = parseBenchArgs(['--headline']);
  assert.deepEqual(options.scenarios, ['fanout', 'idle', 'connect']);
  assert.deepEqual(options.targets, ['pushwire', 'raw', 'socketio', 'nchan']);
  assert.deepEqual(options.pushwireArgs, []);
  assert.deepEqual(settingsFor('fanout', options).subscribers, [2000]);
  assert.deepEqual(settingsFor('connect', options).subscribers, [10_000]);
  assert.deepEqual(settingsFor('fanout', parseBenchArgs([])).subscribers, [1000]);
});
