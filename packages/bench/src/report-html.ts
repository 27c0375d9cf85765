import type { FanoutResult } from './fanout.ts';
import { scenarioTables } from './report-table.ts';
import type { BenchResults, ScenarioRecord } from './results.ts';

type Ok<T extends ScenarioRecord> = T & { result: NonNullable<T['result']> };

/** A self-contained report: inline CSS and SVG, no script, no external resource. */
export function renderHtml(results: BenchResults): string {
  const ok = results.scenarios.filter(
    (s): s is Ok<ScenarioRecord & { scenario: 'fanout' }> => s.scenario === 'fanout' && s.result !== null,
  );
  const counts = [...new Set(ok.map((s) => s.subscribers))].sort((a, b) => a - b);
  const sections: string[] = [];
  for (const n of counts) {
    const atN = ok.filter((s) => s.subscribers === n);
    const series = [...new Set(atN.map((s) => s.target))];
    const transports = [...new Set(atN.map((s) => s.transport))];
    const grouped = (pick: (r: FanoutResult) => number) =>
      transports.map((transport) => ({
        label: transport,
        bars: series.map((target) => {
          const found = atN.find((s) => s.target === target && s.transport === transport);
          return { series: target, value: found ? pick(found.result) : null };
        }),
      }));
    sections.push(`<h2>Fan-out, N = ${n.toLocaleString('en-US')} subscribers</h2>`);
    sections.push(
      barChart(
        'Deliveries per second (higher is better)',
        grouped((r) => r.deliveriesPerSec),
        series,
        '',
      ),
      barChart(
        'Server CPU per delivery, µs (lower is better)',
        grouped((r) => r.cpuPerDeliveryUs),
        series,
        ' µs',
      ),
      barChart(
        'Idle memory per connection, KB (lower is better)',
        grouped((r) => r.memoryPerConnectionKb),
        series,
        ' KB',
      ),
      barChart(
        'Latency, ms, log scale: p50 / p90 / p99 (lower is better)',
        atN.map((s) => ({
          label: `${s.target} ${s.transport}`,
          bars: [
            { series: 'p50', value: s.result.latency.p50Ms },
            { series: 'p90', value: s.result.latency.p90Ms },
            { series: 'p99', value: s.result.latency.p99Ms },
          ],
        })),
        ['p50', 'p90', 'p99'],
        ' ms',
        'log',
      ),
    );
  }
  if (counts.length > 1) {
    const lines = [...new Set(ok.map((s) => `${s.target} ${s.transport}`))].map((name) => ({
      name,
      points: ok
        .filter((s) => `${s.target} ${s.transport}` === name)
        .map((s) => ({ x: s.subscribers, y: s.result.memoryPerConnectionKb })),
    }));
    sections.push('<h2>Memory against N</h2>', lineChart('Idle memory per connection, KB, against N', lines));
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pushwire benchmark ${escapeHtml(results.startedAt)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:nth-child(-n+2),th{text-align:left}.bad{background:#fdd}svg{margin:.5em 1em 1em 0;background:#fafafa}
figure{display:inline-block;margin:0}figcaption{font-weight:600}
</style></head><body>
<h1>Pushwire benchmark</h1>
<p>${escapeHtml(results.startedAt)} · ${results.machine.cpus} × ${escapeHtml(results.machine.cpuModel)} ·
${results.machine.memoryGb} GiB · Node ${escapeHtml(results.machine.node)} · load average ${escapeHtml((results.machine.loadAverage ?? []).join(' / '))} at the start ·
server and load generator share the machine. ${results.options.payloadBytes}-byte payloads,
${results.options.repeat} run(s) per scenario (medians). Ratios are to the raw Node ceiling in the same scenario, on the same transport and N.</p>
${resultsTables(results)}
${results.skipped.map((s) => `<p>${escapeHtml(s.target)}: skipped (${escapeHtml(s.reason)})</p>`).join('\n')}
${sections.join('\n')}
${otherCharts(results)}
</body></html>
`;
}

function resultsTables(results: BenchResults): string {
  return scenarioTables(results)
    .map((table) => {
      const head = `<tr>${table.head.map((title) => `<th>${escapeHtml(title)}</th>`).join('')}</tr>`;
      const rows = table.rows.map(
        (row, i) =>
          `<tr${table.bad[i] ? ' class="bad"' : ''}>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join('')}</tr>`,
      );
      const failures = table.failures.map((f) => `<p class="bad">${escapeHtml(f)}</p>`);
      return `<h2>${escapeHtml(table.title)}</h2><table>${head}${rows.join('')}</table>${failures.join('')}`;
    })
    .join('\n');
}

/** One chart of the headline number of each scenario other than the fan-out. */
function otherCharts(results: BenchResults): string {
  const charts: string[] = [];
  const chart = (
    scenario: ScenarioRecord['scenario'],
    title: string,
    unit: string,
    pick: (record: ScenarioRecord) => number | null,
  ) => {
    const records = results.scenarios.filter((s) => s.scenario === scenario && s.result !== null);
    if (records.length === 0) return;
    const series = [...new Set(records.map((s) => s.target))];
    const groups = [...new Set(records.map((s) => `${s.transport} N=${s.subscribers}`))].map((label) => ({
      label,
      bars: series.map((target) => {
        const found = records.find(
          (s) => s.target === target && `${s.transport} N=${s.subscribers}` === label,
        );
        return { series: target, value: found ? pick(found) : null };
      }),
    }));
    charts.push(barChart(title, groups, series, unit));
  };
  const fanout = (s: ScenarioRecord): FanoutResult | null =>
    s.scenario === 'channels' || s.scenario === 'publish' || s.scenario === 'reconnect' ? s.result : null;
  chart('max-rate', 'Max sustained deliveries/s (higher is better)', '', (s) =>
    s.scenario === 'max-rate' && s.result ? s.result.deliveriesPerSec : null,
  );
  chart('idle', 'Idle memory per connection after settling, KB (lower is better)', ' KB', (s) =>
    s.scenario === 'idle' && s.result ? s.result.memoryPerConnectionKb : null,
  );
  chart(
    'channels',
    'N channels × 1 subscriber: server CPU per delivery, µs (lower is better)',
    ' µs',
    (s) => fanout(s)?.cpuPerDeliveryUs ?? null,
  );
  chart(
    'publish',
    'Publishes accepted per second (higher is better)',
    '',
    (s) => fanout(s)?.publishesPerSec ?? null,
  );
  chart('reconnect', 'Reconnect storm: seconds until all are live again (lower is better)', ' s', (s) => {
    const storm = fanout(s)?.storm;
    return storm ? storm.allLiveMs / 1000 : null;
  });
  chart('connect', 'Connections set up and subscribed per second (higher is better)', '', (s) =>
    s.scenario === 'connect' && s.result ? s.result.connectionsPerSec : null,
  );
  return charts.length > 0 ? `<h2>The other scenarios</h2>\n${charts.join('\n')}` : '';
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

interface BarGroup {
  label: string;
  bars: { series: string; value: number | null }[];
}

function barChart(
  title: string,
  groups: readonly BarGroup[],
  series: readonly string[],
  unit: string,
  scale: 'linear' | 'log' = 'linear',
): string {
  const barWidth = 22;
  const gap = 18;
  const groupWidth = series.length * barWidth + gap;
  const height = 220;
  const top = 20;
  const left = 60;
  const width = left + Math.max(1, groups.length) * groupWidth + 120;
  const largest = Math.max(0, ...groups.flatMap((g) => g.bars.map((b) => b.value ?? 0)));
  const max = scale === 'log' ? 10 ** Math.ceil(Math.log10(Math.max(largest, 1))) : niceMax(largest);
  // Log scale from 0.1 (ms) up: latencies of one run span four decades.
  const y =
    scale === 'log'
      ? (v: number) =>
          top +
          height -
          (Math.log10(Math.max(v, LOG_FLOOR) / LOG_FLOOR) / Math.log10(max / LOG_FLOOR)) * height
      : (v: number) => top + height - (v / max) * height;
  const parts: string[] = [
    scale === 'log'
      ? logAxis(left, top, height, max, width - 120, unit)
      : axis(left, top, height, max, width - 120, unit),
  ];
  groups.forEach((group, g) => {
    const x0 = left + g * groupWidth + gap / 2;
    group.bars.forEach((bar, b) => {
      if (bar.value === null) return;
      const x = x0 + b * barWidth;
      const color = PALETTE[series.indexOf(bar.series) % PALETTE.length];
      parts.push(
        `<rect x="${x}" y="${y(bar.value)}" width="${barWidth - 3}" height="${top + height - y(bar.value)}" fill="${color}"><title>${escapeHtml(`${group.label} ${bar.series}: ${bar.value}${unit}`)}</title></rect>`,
      );
    });
    parts.push(
      `<text x="${x0 + (series.length * barWidth) / 2}" y="${top + height + 16}" text-anchor="middle" font-size="11">${escapeHtml(group.label)}</text>`,
    );
  });
  parts.push(legend(series, width - 110, top));
  return figure(title, width, height + top + 40, parts);
}

function lineChart(
  title: string,
  lines: readonly { name: string; points: { x: number; y: number }[] }[],
): string {
  const height = 220;
  const top = 20;
  const left = 60;
  const plotWidth = 520;
  const xs = lines.flatMap((l) => l.points.map((p) => p.x));
  const minX = Math.min(...xs);
  const maxX = Math.max(...xs);
  const maxY = niceMax(Math.max(0, ...lines.flatMap((l) => l.points.map((p) => p.y))));
  const px = (x: number) => left + (maxX === minX ? plotWidth / 2 : ((x - minX) / (maxX - minX)) * plotWidth);
  const py = (v: number) => top + height - (v / maxY) * height;
  const parts = [axis(left, top, height, maxY, left + plotWidth, ' KB')];
  for (const x of [...new Set(xs)]) {
    parts.push(`<text x="${px(x)}" y="${top + height + 16}" text-anchor="middle" font-size="11">${x}</text>`);
  }
  lines.forEach((line, i) => {
    const color = PALETTE[i % PALETTE.length];
    const sorted = [...line.points].sort((a, b) => a.x - b.x);
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${sorted.map((p) => `${px(p.x)},${py(p.y)}`).join(' ')}"/>`,
      ...sorted.map((p) => `<circle cx="${px(p.x)}" cy="${py(p.y)}" r="3" fill="${color}"/>`),
    );
  });
  parts.push(
    legend(
      lines.map((l) => l.name),
      left + plotWidth + 20,
      top,
    ),
  );
  return figure(title, left + plotWidth + 200, height + top + 40, parts);
}

function axis(left: number, top: number, height: number, max: number, right: number, unit: string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const yy = top + height - f * height;
    return `<line x1="${left}" x2="${right}" y1="${yy}" y2="${yy}" stroke="#ddd"/><text x="${left - 6}" y="${yy + 4}" text-anchor="end" font-size="10">${formatTick(f * max)}${f === 1 ? escapeHtml(unit) : ''}</text>`;
  });
  return ticks.join('');
}

const LOG_FLOOR = 0.1;

function logAxis(
  left: number,
  top: number,
  height: number,
  max: number,
  right: number,
  unit: string,
): string {
  const decades = Math.round(Math.log10(max / LOG_FLOOR));
  return Array.from({ length: decades + 1 }, (_, i) => {
    const yy = top + height - (i / decades) * height;
    const value = LOG_FLOOR * 10 ** i;
    return `<line x1="${left}" x2="${right}" y1="${yy}" y2="${yy}" stroke="#ddd"/><text x="${left - 6}" y="${yy + 4}" text-anchor="end" font-size="10">${formatTick(value)}${i === decades ? escapeHtml(unit) : ''}</text>`;
  }).join('');
}

function legend(names: readonly string[], x: number, y: number): string {
  return names
    .map(
      (name, i) =>
        `<rect x="${x}" y="${y + i * 16}" width="10" height="10" fill="${PALETTE[i % PALETTE.length]}"/><text x="${x + 14}" y="${y + i * 16 + 9}" font-size="11">${escapeHtml(name)}</text>`,
    )
    .join('');
}

function figure(title: string, width: number, height: number, parts: readonly string[]): string {
  return `<figure><figcaption>${escapeHtml(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg></figure>`;
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function formatTick(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e4) return `${Math.round(value / 1e3)}k`;
  return String(Math.round(value * 100) / 100);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
