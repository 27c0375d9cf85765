import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import type { BenchResults } from '@pushwire/bench';

// A tiny benchmark, run the way a user runs it (`npm run bench -- ...`), that asserts only
// correctness: every message reached every subscriber once, in order, on every transport of
// Pushwire and of the raw ceiling, and both reports were written. Speed is never asserted.

const root = resolve(import.meta.dirname, '..', '..');
const out = mkdtempSync(join(tmpdir(), 'pushwire-bench-smoke-'));
after(() => rmSync(out, { recursive: true, force: true }));

function runBench(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@pushwire/source', '--import', 'tsx', 'packages/bench/run.ts', ...args],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return new Promise((done) => child.on('close', (code) => done({ code, stdout, stderr })));
}

test('a small fan-out on Pushwire and the raw ceiling loses, duplicates and reorders nothing', {
  timeout: 180_000,
}, async () => {
  const run = await runBench([
    '--targets',
    'pushwire,raw',
    '--subs',
    '20',
    '--rate',
    '40',
    '--duration',
    '1s',
    '--out',
    out,
  ]);
  assert.equal(run.code, 0, `bench exited ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`);

  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as BenchResults;
  assert.deepEqual(results.skipped, []);
  const ran = results.scenarios.map((s) => `${s.target}/${s.transport}`).sort();
  assert.deepEqual(ran, [
    'pushwire/poll',
    'pushwire/sse',
    'pushwire/stream',
    'pushwire/ws',
    'raw/poll',
    'raw/sse',
    'raw/stream',
    'raw/ws',
  ]);
  for (const scenario of results.scenarios) {
    const where = `${scenario.target}/${scenario.transport}`;
    assert.equal(scenario.error, null, where);
    assert.equal(scenario.scenario, 'fanout', where);
    const result = scenario.scenario === 'fanout' ? scenario.result : null;
    assert.ok(result, where);
    assert.equal(result.subscribers, 20, `${where}: live subscribers`);
    assert.equal(result.published, 40, `${where}: published`);
    assert.equal(result.publishFailed, 0, `${where}: refused publishes`);
    assert.equal(result.lost, 0, `${where}: lost`);
    assert.equal(result.duplicated, 0, `${where}: duplicated`);
    assert.equal(result.reordered, 0, `${where}: out of order`);
    assert.equal(result.delivered, result.expected, `${where}: delivered`);
    assert.equal(result.latency.count, result.delivered, `${where}: a latency per delivery`);
  }

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /^<!doctype html>/);
  assert.match(html, /<svg /);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'self-contained');
  assert.match(run.stdout, /^target\s+transport\s+N\s+deliveries\/s/m);
  assert.ok(existsSync(join(out, 'results.json')));
});

test('subscribers dropped at once come back with their cursors and miss nothing', {
  timeout: 180_000,
}, async () => {
  const stormOut = join(out, 'storm');
  const run = await runBench([
    '--scenarios',
    'reconnect',
    '--targets',
    'pushwire,raw',
    '--transports',
    'ws,poll',
    '--subs',
    '20',
    '--rate',
    '40',
    '--duration',
    '1500ms',
    '--out',
    stormOut,
  ]);
  assert.equal(run.code, 0, `bench exited ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`);
  const results = JSON.parse(readFileSync(join(stormOut, 'results.json'), 'utf8')) as BenchResults;
  const ran = results.scenarios.map((s) => `${s.scenario} ${s.target}/${s.transport}`).sort();
  assert.deepEqual(ran, [
    'reconnect pushwire/poll',
    'reconnect pushwire/ws',
    'reconnect raw/poll',
    'reconnect raw/ws',
  ]);
  for (const scenario of results.scenarios) {
    const where = `${scenario.target}/${scenario.transport}`;
    const result = scenario.scenario === 'reconnect' ? scenario.result : null;
    assert.ok(result?.storm, `${where}: ${scenario.error}`);
    assert.equal(result.storm.dropped, 20, `${where}: dropped`);
    assert.equal(result.storm.reconnected, 20, `${where}: back`);
    assert.equal(result.lost, 0, `${where}: lost`);
    assert.equal(result.duplicated, 0, `${where}: duplicated`);
    assert.equal(result.reordered, 0, `${where}: out of order`);
    assert.equal(result.delivered, result.expected, `${where}: delivered`);
  }
  assert.match(run.stdout, /^Reconnect storm/m);
});

test('SDK clients whose networks keep dropping get every message once, in order, and leave no dead peers', {
  timeout: 300_000,
}, async () => {
  const dropsOut = join(out, 'drops');
  const run = await runBench([
    '--scenarios',
    'drops,drops-silent',
    '--targets',
    'pushwire,raw',
    '--subs',
    '10',
    '--rate',
    '10',
    '--duration',
    '4s',
    '--drop-every',
    '1500ms',
    '--drop-away',
    '500ms',
    '--out',
    dropsOut,
  ]);
  assert.equal(run.code, 0, `bench exited ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`);
  const results = JSON.parse(readFileSync(join(dropsOut, 'results.json'), 'utf8')) as BenchResults;
  const ran = results.scenarios.map((s) => `${s.scenario} ${s.target}/${s.transport}`).sort();
  // The SDK drives the clients: Pushwire only.
  assert.deepEqual(
    ran,
    ['drops', 'drops-silent'].flatMap((scenario) =>
      ['poll', 'sse', 'stream', 'ws'].map((transport) => `${scenario} pushwire/${transport}`),
    ),
  );
  for (const scenario of results.scenarios) {
    const where = `${scenario.scenario} ${scenario.transport}`;
    const result =
      scenario.scenario === 'drops' || scenario.scenario === 'drops-silent' ? scenario.result : null;
    assert.ok(result, `${where}: ${scenario.error}`);
    assert.equal(result.connectFailed, 0, `${where}: connect failed`);
    assert.ok(
      result.drops > 0 && result.reconnects > 0,
      `${where}: ${result.drops} drops, ${result.reconnects} back`,
    );
    assert.ok(result.replay.count > 0, `${where}: messages came through a resume`);
    // Every return is timed twice: from the drop, and from the network's return (the outage less).
    assert.equal(result.back.count, result.away.count, `${where}: returns timed`);
    assert.ok(result.back.p50Ms < result.away.p50Ms, `${where}: back ${result.back.p50Ms} ms`);
    assert.equal(result.lost, 0, `${where}: lost`);
    assert.equal(result.duplicated, 0, `${where}: duplicated`);
    assert.equal(result.reordered, 0, `${where}: out of order`);
    assert.equal(result.gaps, 0, `${where}: gaps`);
    assert.equal(result.deliveredPercent, 100, `${where}: delivered`);
    // Left open by the network, old connections are ended when their clients come back.
    assert.ok(
      result.serverConnectionsMax <= 15,
      `${where}: ${result.serverConnectionsMax} server connections`,
    );
  }
  assert.match(run.stdout, /^Network drops/m);
});
