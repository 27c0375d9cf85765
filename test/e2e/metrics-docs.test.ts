import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { type RunningPushwire, startPushwire } from '../helpers/server.ts';

const doc = (name: string) => readFile(new URL(`../../docs/${name}`, import.meta.url), 'utf8');
const METRIC = /\b(?:pushwire|nodejs|process)_[a-z0-9_]+\b/g;

/** A series name as the metric it belongs to (histograms add _bucket, _sum and _count). */
function metricOf(series: string, known: ReadonlySet<string>): string {
  if (known.has(series)) return series;
  return series.replace(/_(bucket|sum|count)$/, '');
}

describe('metrics the docs name', { timeout: 180_000 }, () => {
  let server: RunningPushwire;
  let exported: Set<string>;
  before(async () => {
    // With a lifecycle webhook configured, so that its metrics are exported too (nothing is sent:
    // no client connects).
    server = await startPushwire({
      args: [
        '--hook-url',
        'http://127.0.0.1:9/hooks',
        '--hook-secret',
        'a-hook-secret-of-at-least-32-bytes!',
      ],
    });
    const text = await (await fetch(`${server.url}/metrics`)).text();
    exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!));
  });
  after(async () => {
    await server?.stop();
  });

  test('the Grafana dashboard uses only metrics the server exports', async () => {
    const dashboard = JSON.parse(await doc('grafana-dashboard.json')) as {
      panels: Array<{ targets: Array<{ expr: string }> }>;
    };
    const used = dashboard.panels.flatMap((panel) =>
      panel.targets.flatMap((t) => t.expr.match(METRIC) ?? []),
    );
    assert.ok(used.length > 10);
    for (const series of used)
      assert.ok(exported.has(metricOf(series, exported)), `${series} is not exported`);
  });

  test('docs/operations.md names only exported metrics, and documents every pushwire_ one', async () => {
    const text = await doc('operations.md');
    const named = new Set((text.match(METRIC) ?? []).map((series) => metricOf(series, exported)));
    for (const metric of named) assert.ok(exported.has(metric), `${metric} is named but not exported`);
    for (const metric of exported) {
      if (metric.startsWith('pushwire_')) assert.ok(named.has(metric), `${metric} is not documented`);
    }
  });
});
