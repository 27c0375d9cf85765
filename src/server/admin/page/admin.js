// The operator console. Live numbers come from the server's own feed: every node publishes a
// snapshot on `$admin:stats` (while someone watches), which this page subscribes to with the
// Pushwire SDK over SSE. The tables come from the admin API, reloaded when the feed shows that
// something changed. The admin key stays in this tab's sessionStorage and only ever travels in
// an Authorization header: the feed connects with a short-lived token the key buys.
/* global uPlot */

const STATS_CHANNEL = '$admin:stats';
const KEY_ITEM = 'pushwire.adminKey';
/** Snapshots come every 2 s per node: points are binned by that. */
const BIN_MS = 2000;
/** The charts keep the last 10 minutes. */
const MAX_BINS = 300;
/** A node silent for this long is shown stale, and after the next, left out of the totals. */
const STALE_MS = 3 * BIN_MS;
const GONE_MS = 60_000;

const base = location.pathname.replace(/\/admin\/?$/, '');
const origin = location.origin + base;
const $ = (id) => document.getElementById(id);

let key = sessionStorage.getItem(KEY_ITEM);
let client = null;
let renewTimer = null;
/** nodeId -> { last: snapshot, prev: snapshot|null } */
const nodes = new Map();
/** binTime -> Map(nodeId -> point) */
const bins = new Map();
const errorCodes = new Set();
const charts = {};
let tablesShown = '';
let reloadTimer = null;
let selectedChannel = null;

// ---------- API ----------

class SignedOut extends Error {}

async function api(path, init = {}) {
  const response = await fetch(origin + path, {
    ...init,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) throw new SignedOut(body.error?.message ?? 'unauthorized');
  if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body;
}

function failed(error) {
  if (error instanceof SignedOut) signOut(error.message);
  else setStatus(`error: ${error.message}`, 'down');
}

// ---------- sign in and out ----------

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  key = $('key').value.trim();
  $('login-error').textContent = '';
  try {
    await api('/api/info');
  } catch (error) {
    key = null;
    $('login-error').textContent =
      error instanceof SignedOut ? 'That is not the admin key.' : `Cannot reach the server: ${error.message}`;
    return;
  }
  sessionStorage.setItem(KEY_ITEM, key);
  $('key').value = '';
  start();
});

$('logout').addEventListener('click', () => signOut(''));

function signOut(reason) {
  sessionStorage.removeItem(KEY_ITEM);
  key = null;
  client?.close();
  client = null;
  clearTimeout(renewTimer);
  $('console').hidden = true;
  $('logout').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = reason;
  setStatus('signed out');
}

function setStatus(text, kind = '') {
  $('status').textContent = text;
  $('status').className = `status ${kind}`;
}

async function start() {
  $('login').hidden = true;
  $('console').hidden = false;
  $('logout').hidden = false;
  setStatus('connecting…');
  createCharts();
  try {
    const history = await api(`/api/history?channel=${encodeURIComponent(STATS_CHANNEL)}&limit=300`);
    for (const message of [...history.messages].reverse()) ingest(message.data);
    redraw();
    await connect();
  } catch (error) {
    failed(error);
  }
  reloadTables();
}

/** A token for the feed, and a new client before it runs out (then the old one goes). */
async function connect() {
  const { token, expiresAt } = await api('/api/admin-token', { method: 'POST', body: '{}' });
  const { Pushwire } = await import(`${origin}/pushwire.js`);
  const next = new Pushwire(origin, { token, transports: ['sse', 'longpoll'] });
  next.on('connected', (event) => setStatus(`live over ${event.transport}`, 'live'));
  next.on('reconnecting', () => setStatus('reconnecting…', 'down'));
  next.on('disconnected', () => setStatus('disconnected', 'down'));
  next.subscribe(STATS_CHANNEL, (message) => {
    ingest(message.data);
    redraw();
  });
  const previous = client;
  client = next;
  if (previous) setTimeout(() => previous.close(), 5000);
  clearTimeout(renewTimer);
  renewTimer = setTimeout(() => connect().catch(failed), Math.max(60_000, expiresAt - Date.now() - 300_000));
}

// ---------- the feed ----------

function ingest(snapshot) {
  if (!snapshot || typeof snapshot.node !== 'string') return;
  const known = nodes.get(snapshot.node);
  if (known && known.last.time >= snapshot.time) return;
  const prev = known?.last ?? null;
  nodes.set(snapshot.node, { last: snapshot, prev });
  const bin = Math.round(snapshot.time / BIN_MS) * BIN_MS;
  if (!bins.has(bin)) bins.set(bin, new Map());
  bins.get(bin).set(snapshot.node, pointOf(prev, snapshot));
  for (const old of [...bins.keys()].sort((a, b) => a - b).slice(0, Math.max(0, bins.size - MAX_BINS))) {
    bins.delete(old);
  }
}

/** What one snapshot adds to its bin: gauges as they are, counters as rates since the node's last one. */
function pointOf(prev, now) {
  const seconds = prev ? (now.time - prev.time) / 1000 : 0;
  const usable = prev && seconds > 0 && seconds < 60 && now.startedAt === prev.startedAt;
  const rate = (read) => (usable ? Math.max(0, read(now) - read(prev)) / seconds : null);
  const errors = {};
  for (const [code, count] of Object.entries({ ...now.counters.httpErrors, ...endedErrors(now) })) {
    errorCodes.add(code);
    errors[code] = usable ? Math.max(0, count - (errorCount(prev, code) ?? 0)) / seconds : null;
  }
  return {
    connections: now.connections,
    published: rate((s) => s.counters.published),
    delivered: rate((s) => s.counters.delivered),
    heartbeats: rate((s) => s.counters.heartbeatsSent),
    dropped: rate((s) => s.counters.ended.heartbeat_timeout ?? 0),
    slow: rate((s) => s.counters.ended.slow_consumer ?? 0),
    rateLimited: rate((s) => s.counters.rateLimited),
    errors,
    latency: usable
      ? now.latency.counts.map((count, i) => Math.max(0, count - (prev.latency.counts[i] ?? 0)))
      : null,
    bounds: now.latency.bounds,
    lag: now.eventLoopDelayMs.p99,
  };
}

/** Connections the server ended for a reason worth an operator's eye (drains are routine). */
function endedErrors(snapshot) {
  const { heartbeat_timeout: _h, slow_consumer: _s, shutting_down: _d, ...rest } = snapshot.counters.ended;
  return rest;
}

function errorCount(snapshot, code) {
  return snapshot.counters.httpErrors[code] ?? endedErrors(snapshot)[code];
}

/** The q-quantile (0..1) of merged bucket counts, interpolated within its bucket (ms). */
function quantile(q, counts, bounds) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const target = q * total;
  let before = 0;
  for (let i = 0; i < counts.length; i++) {
    if (before + counts[i] >= target && counts[i] > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1] * 1000;
      const lower = i === 0 ? 0 : bounds[i - 1];
      return (lower + (bounds[i] - lower) * ((target - before) / counts[i])) * 1000;
    }
    before += counts[i];
  }
  return bounds[bounds.length - 1] * 1000;
}

function mergeLatency(points) {
  let merged = null;
  let bounds = null;
  for (const point of points) {
    if (!point.latency) continue;
    bounds = point.bounds;
    merged = merged ? merged.map((count, i) => count + (point.latency[i] ?? 0)) : [...point.latency];
  }
  return merged ? { counts: merged, bounds } : null;
}

// ---------- charts ----------

const PALETTE = ['#2f6fed', '#12b76a', '#f79009', '#d92d20', '#7a5af8', '#0ba5ec', '#667085', '#ee46bc'];
const TRANSPORTS = ['websocket', 'sse', 'longpoll', 'stream'];

function chartOptions(names, width) {
  return {
    width,
    height: 120,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ size: 30 }, { size: 44 }],
    series: [
      {},
      ...names.map((label, i) => ({
        label,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        spanGaps: false,
      })),
    ],
  };
}

function makeChart(id, names) {
  charts[id]?.destroy();
  const holder = $(id);
  holder.textContent = '';
  charts[id] = new uPlot(
    chartOptions(names, holder.clientWidth || 380),
    [[], ...names.map(() => [])],
    holder,
  );
  charts[id].names = names;
}

function createCharts() {
  if (charts['chart-connections']) return;
  makeChart('chart-connections', [...TRANSPORTS, 'total']);
  makeChart('chart-messages', ['published', 'delivered']);
  makeChart('chart-latency', ['p50', 'p99']);
  makeChart('chart-heartbeats', ['heartbeats', 'peers dropped', 'slow consumers']);
  makeChart('chart-errors', ['rate limited']);
  makeChart('chart-lag', ['max over nodes']);
  addEventListener('resize', () => {
    for (const chart of Object.values(charts))
      chart.setSize({ width: chart.root.parentElement.clientWidth, height: 120 });
  });
}

const sum = (points, read) => {
  const values = points.map(read).filter((value) => value !== null && value !== undefined);
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0);
};

function redraw() {
  const times = [...bins.keys()].sort((a, b) => a - b);
  const columns = times.map((time) => [...bins.get(time).values()]);
  const x = times.map((time) => time / 1000);
  const series = (read) => columns.map(read);
  charts['chart-connections'].setData([
    x,
    ...TRANSPORTS.map((name) => series((points) => sum(points, (p) => p.connections[name]))),
    series((points) => sum(points, (p) => p.connections.total)),
  ]);
  charts['chart-messages'].setData([
    x,
    series((points) => sum(points, (p) => p.published)),
    series((points) => sum(points, (p) => p.delivered)),
  ]);
  const latency = columns.map(mergeLatency);
  charts['chart-latency'].setData([
    x,
    latency.map((merged) => merged && quantile(0.5, merged.counts, merged.bounds)),
    latency.map((merged) => merged && quantile(0.99, merged.counts, merged.bounds)),
  ]);
  charts['chart-heartbeats'].setData([
    x,
    series((points) => sum(points, (p) => p.heartbeats)),
    series((points) => sum(points, (p) => p.dropped)),
    series((points) => sum(points, (p) => p.slow)),
  ]);
  const codes = [...errorCodes].sort();
  const errorNames = ['rate limited', ...codes];
  if (charts['chart-errors'].names.join() !== errorNames.join()) makeChart('chart-errors', errorNames);
  charts['chart-errors'].setData([
    x,
    series((points) => sum(points, (p) => p.rateLimited)),
    ...codes.map((code) => series((points) => sum(points, (p) => p.errors[code] ?? 0))),
  ]);
  charts['chart-lag'].setData([
    x,
    series((points) => {
      const lags = points.map((p) => p.lag);
      return lags.length ? Math.max(...lags) : null;
    }),
  ]);
  renderNow(columns);
}

// ---------- now: tiles and nodes ----------

const format = (value, digits = 0) =>
  value === null || value === undefined
    ? '–'
    : Number(value).toLocaleString('en-US', { maximumFractionDigits: digits });

function renderNow(columns) {
  const now = Date.now();
  const live = [...nodes.values()].filter(({ last }) => now - last.time < STALE_MS * 2);
  $('stat-nodes').textContent = String(live.length);
  const connections = live.reduce((total, { last }) => total + last.connections.total, 0);
  $('stat-connections').textContent = format(connections);
  $('stat-published').textContent = format(
    live.reduce((total, { last }) => total + last.counters.published, 0),
  );
  const latest = columns.length ? columns[columns.length - 1] : [];
  $('stat-in').textContent = format(
    sum(latest, (p) => p.published),
    1,
  );
  $('stat-out').textContent = format(
    sum(latest, (p) => p.delivered),
    1,
  );
  const recent = mergeLatency(columns.slice(-30).flat());
  $('stat-latency').textContent = recent
    ? `${format(quantile(0.5, recent.counts, recent.bounds), 1)} / ${format(quantile(0.99, recent.counts, recent.bounds), 1)}`
    : '–';
  const lags = live.map(({ last }) => last.eventLoopDelayMs.p99);
  $('stat-lag').textContent = lags.length ? format(Math.max(...lags), 1) : '–';
  renderNodes(now);
  // The tables follow the feed: reloaded when what they show has changed.
  const shown = `${connections}|${live.map(({ last }) => `${last.node}:${last.channels}:${last.subscriptions}`).join()}`;
  if (shown !== tablesShown) {
    tablesShown = shown;
    reloadTablesSoon();
  }
}

function renderNodes(now) {
  const rows = [];
  for (const [id, { last }] of [...nodes].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (now - last.time > GONE_MS) {
      nodes.delete(id);
      continue;
    }
    const row = cells([
      last.node,
      last.host,
      last.version,
      duration(last.uptimeSeconds),
      format(last.connections.total),
      format(last.channels),
      format(last.messagesInPerSecond, 1),
      format(last.messagesOutPerSecond, 1),
      `${last.broker.kind} ${last.broker.healthy ? 'up' : 'DOWN'}`,
      `${format(last.eventLoopDelayMs.p99, 1)} ms`,
      `${format(last.memoryRssBytes / 1048576)} MB`,
    ]);
    if (now - last.time > STALE_MS) row.className = 'stale';
    rows.push(row);
  }
  $('nodes').tBodies[0].replaceChildren(...rows);
}

function duration(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function cells(values, numeric = []) {
  const row = document.createElement('tr');
  values.forEach((value, i) => {
    const cell = document.createElement('td');
    if (value instanceof Node) cell.append(value);
    else cell.textContent = value;
    if (numeric.includes(i)) cell.className = 'num';
    row.append(cell);
  });
  return row;
}

// ---------- tables ----------

function reloadTablesSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(reloadTables, 300);
}

async function reloadTables() {
  if (!key) return;
  try {
    await Promise.all([loadChannels(), loadConnections(), countChannels()]);
  } catch (error) {
    failed(error);
  }
}

async function countChannels() {
  const page = await api('/api/channels?limit=1000');
  $('stat-channels').textContent = page.next ? '1000+' : String(page.channels.length);
}

async function loadChannels() {
  const prefix = $('channel-search').value.trim();
  const page = await api(`/api/channels?limit=50${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ''}`);
  $('channels').tBodies[0].replaceChildren(
    ...page.channels.map(({ channel, subscribers }) => {
      const row = cells([channel, format(subscribers)], [1]);
      row.dataset.channel = channel;
      if (channel === selectedChannel) row.classList.add('selected');
      row.addEventListener('click', () => showChannel(channel));
      return row;
    }),
  );
  $('channels-more').textContent = page.next ? 'More channels: narrow the search.' : '';
}

async function showChannel(channel) {
  selectedChannel = channel;
  for (const row of $('channels').tBodies[0].rows)
    row.classList.toggle('selected', row.dataset.channel === channel);
  $('channel-detail').hidden = false;
  $('detail-name').textContent = channel;
  const [presence, history] = await Promise.allSettled([
    api(`/api/presence?channel=${encodeURIComponent(channel)}`),
    api(`/api/history?channel=${encodeURIComponent(channel)}&limit=10`),
  ]);
  const items = (list, text) =>
    list.map((entry) => {
      const item = document.createElement('li');
      item.textContent = text(entry);
      return item;
    });
  $('detail-presence').replaceChildren(
    ...(presence.status === 'fulfilled'
      ? presence.value.clients.length
        ? items(presence.value.clients, (c) => `${c.userId ?? 'anonymous'} · ${c.clientId}`)
        : items(['nobody'], (text) => text)
      : items([presence.reason.message], (text) => text)),
  );
  $('detail-history').replaceChildren(
    ...(history.status === 'fulfilled'
      ? items(
          history.value.messages,
          (m) => `#${m.offset} ${new Date(m.time).toLocaleTimeString()} ${JSON.stringify(m.data)}`,
        )
      : items([history.reason.message], (text) => text)),
  );
}

async function loadConnections() {
  const user = $('connection-search').value.trim();
  const { connections } = await api(
    `/api/connections?limit=200${user ? `&user=${encodeURIComponent(user)}` : ''}`,
  );
  $('connections').tBodies[0].replaceChildren(
    ...connections.map((c) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'danger';
      button.textContent = 'Disconnect';
      button.dataset.clientId = c.clientId;
      button.addEventListener('click', () => disconnect(c.clientId, button));
      const row = cells(
        [
          c.clientId,
          c.user ?? '–',
          c.transport,
          c.address ?? '–',
          c.channels.join(', '),
          new Date(c.connectedAt).toLocaleTimeString(),
          format(c.bytesQueued),
          button,
        ],
        [6],
      );
      row.dataset.clientId = c.clientId;
      row.cells[4].className = 'channels';
      row.cells[4].title = c.channels.join(', ');
      return row;
    }),
  );
}

async function disconnect(clientId, button) {
  button.disabled = true;
  try {
    await api('/api/disconnect', { method: 'POST', body: JSON.stringify({ clientId }) });
  } catch (error) {
    failed(error);
  }
  reloadTables();
}

let searchTimer = null;
for (const id of ['channel-search', 'connection-search']) {
  $(id).addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(reloadTables, 250);
  });
}

if (key) start();
