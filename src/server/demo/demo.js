// The Pushwire demo: a small multiplayer game. Every tab is a player; it publishes its moves,
// chat lines and item grabs with `client.publish` and draws what everyone published. The server
// only relays: the game's rules run the same in every tab, because every tab gets the channel's
// messages in the same order. See docs/demo.md.
import { Pushwire } from './pushwire.js';
import { parseTransportName, transportNamesHint } from './transport-names.js';

const W = 24; // board size in cells
const H = 14;
const SPEED = 8; // cells a second
const TICK_MS = 50; // at most 20 position updates a second
const GOLDEN_ANGLE = 137.508; // degrees: hues this far apart never bunch up, however many players
const params = new URLSearchParams(location.search);
const ANNOUNCE_MS = 1000 * Number(params.get('announce') || 3); // re-announce, for newcomers
const EXPIRE_MS = Math.max(10_000, 3 * ANNOUNCE_MS); // a player silent this long has left
const server = new URL('.', import.meta.url).href.replace(/\/$/, ''); // where this file came from
const room = params.get('room') || 'lobby';
const channel = `game:${room}`;
// Chat on a channel of its own: its history holds the last lines, not the last second of moves.
const chatChannel = `game:${room}:chat`;
const id = Math.random().toString(36).slice(2, 8);
const name = (params.get('name') || `player-${id.slice(0, 3)}`).slice(0, 16);

// Everything the page shows, kept in one object (tests and the console can read it).
const demo = {
  id,
  name,
  channel,
  transport: null,
  state: 'connecting',
  error: null,
  latencyMs: null,
  heartbeats: 0,
  heartbeatIntervalMs: undefined, // the server's; null when heartbeats are off
  lastHeartbeatAt: null,
  lastTrafficAt: null,
  players: Object.create(null), // id -> { name, x, y, score, hue, seen }; no prototype: ids are untrusted
  item: { k: 0, ...itemAt(0) },
  chat: [],
  log: [],
};
window.__demo = demo;
const me = { name, x: Math.floor(Math.random() * W), y: Math.floor(Math.random() * H), score: 0, hue: null };
demo.players[id] = me;

/** Item k's cell, the same in every tab: a PRNG (mulberry32) seeded with k. */
function itemAt(k) {
  let seed = Math.imul(k + 1, 0x9e3779b9);
  const next = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { x: 1 + Math.floor(next() * (W - 2)), y: 1 + Math.floor(next() * (H - 2)) };
}

// ---- the connection ------------------------------------------------------------------------
let client = null;
let cursor; // the last message's position: a new client resumes there, missing nothing
let lastOffset = null;
let since = 0; // own moves published before this are not timed (replays after a switch)
let ready = false; // true once the others have had time to tell us the game's state
let everConnected = false;

const GAPS = { epoch: 'the server lost the history (restarted?)', window: 'missed messages left history' };
function connect(transport) {
  client?.close();
  everConnected = false;
  demo.error = null;
  try {
    client = new Pushwire(server, { transports: transport === 'auto' ? undefined : [transport], cursor });
  } catch (error) {
    return fail(`cannot start the client: ${error.message}`);
  }
  since = Date.now();
  client.on('connected', (event) => {
    // After a cut (or a switch: the new client starts from `cursor`) nothing is missed: what
    // was published meanwhile arrives first.
    const resumed = lastOffset === null ? '' : `, resumed after #${lastOffset}`;
    everConnected = true;
    demo.transport = event.transport;
    demo.lastTrafficAt = Date.now();
    setState('connected', `connected over ${event.transport}${resumed}`);
  });
  client.on('subscribed', ({ channel: subscribed }) => {
    if (subscribed !== channel) return;
    announce(); // now that we hear the channel, the others' answers will reach us
    setTimeout(() => {
      ready = true;
      // The others have answered by now: pick a colour none of them has, once.
      if (me.hue === null) pickHue();
    }, 1000);
  });
  client.on('disconnected', (event) => {
    demo.transport = null;
    setState('disconnected', `disconnected: ${event.reason}`);
  });
  client.on('reconnecting', ({ delayMs, transport: next }) => {
    // Never connected: the server is down, or refuses this transport. Say so, don't spin.
    const state = everConnected
      ? `reconnecting in ${delayMs} ms`
      : `cannot connect: retrying in ${delayMs} ms`;
    setState(
      state,
      `${everConnected ? 'reconnecting' : 'no connection yet; trying'} over ${next} in ${delayMs} ms`,
    );
  });
  client.on('gap', (gap) => note(`gap: ${GAPS[gap.reason]}; on from #${gap.nextOffset}`));
  client.on('heartbeat', pulse);
  client.on('error', (error) => {
    note(`error: ${error.code ? `${error.code}: ` : ''}${error.message}`);
    // An error the SDK won't retry (e.g. unauthorized) closes it: show it, don't wait forever.
    queueMicrotask(() => ['refused', 'closed'].includes(client.state) && fail(error.message));
  });
  client.subscribe(channel, (message) => {
    traffic(message);
    lastOffset = message.offset;
    receive(message.data);
  });
  client.subscribe(chatChannel, (message) => {
    traffic(message);
    addChat(message);
    render();
  });
}

/** Every message moves the cursor (of all channels) and shows the connection is alive. */
function traffic(message) {
  cursor = message.cursor;
  demo.lastTrafficAt = Date.now();
}

/**
 * The last chat lines from the chat channel's history, and the cursor the client then
 * resumes from, so that no line falls between the two. The history op is WebSocket's; the
 * cursor it leads to works on every transport. One short-lived socket, closed at once.
 */
function recentChat(limit = 20) {
  return new Promise((resolve) => {
    const done = (result) => {
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const socket = new WebSocket(`${server.replace(/^http/, 'ws')}/ws`);
    const timer = setTimeout(() => done(null), 3000);
    const replies = {};
    socket.onopen = () => {
      socket.send(JSON.stringify({ id: 1, op: 'subscribe', channel: chatChannel }));
      socket.send(JSON.stringify({ id: 2, op: 'history', channel: chatChannel, limit }));
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      if (frame.op === 'error') return done(null);
      if (frame.op !== 'reply') return;
      replies[frame.id] = frame;
      if (!replies[1] || !replies[2]) return;
      // What the history read saw past the subscription comes again through the client.
      const before = replies[2].messages.filter((m) => m.offset <= replies[1].offset);
      done({ messages: before, cursor: replies[1].cursor });
    };
    socket.onerror = () => done(null);
  });
}

/** The server's heartbeat interval, from the `connected` line a stream starts with. */
async function serverHeartbeat() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 5000); // a proxy that buffers the stream
  try {
    const response = await fetch(`${server}/stream?channel=${encodeURIComponent(channel)}`, {
      signal: abort.signal,
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    return JSON.parse(text.split('\n')[0]).heartbeatIntervalMs;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
}

/** Publishes one game message; the SDK picks WebSocket or HTTP POST by itself. */
function send(type, fields = {}, on = channel) {
  if (!client || client.state === 'closed') return Promise.resolve();
  return client
    .publish(on, { t: type, id, name, ...fields })
    .catch((error) => note(`publish refused: ${error.code ?? error.message}`));
}

// One move in flight at a time, the newest position next: HTTP publishes can't overtake each
// other, and a slow link sends fewer, fresher updates instead of a backlog.
let moving = false;
let moved = false;
function sendPosition() {
  if (moving) {
    moved = true;
    return;
  }
  moving = true;
  moved = false;
  send('move', { x: me.x, y: me.y, at: Date.now() }).finally(() => {
    moving = false;
    if (moved) sendPosition();
  });
}

function announce() {
  send('hello', { x: me.x, y: me.y, score: me.score, item: demo.item.k, hue: me.hue });
}
let answering;
function answerNewcomer() {
  clearTimeout(answering);
  answering = setTimeout(announce, 100 + Math.random() * 300);
}
setInterval(announce, ANNOUNCE_MS);

// ---- colours: as far apart as the players present allow --------------------------------------
const hueGap = (a, b) => Math.min(Math.abs(a - b), 360 - Math.abs(a - b));

/** The hue, among golden-angle steps, farthest from every other player's. */
function pickHue() {
  const taken = Object.entries(demo.players)
    .filter(([pid, p]) => pid !== id && Number.isFinite(p.hue))
    .map(([, p]) => p.hue);
  let best = { hue: 0, gap: -1 };
  for (let step = 0; step < 32; step++) {
    const hue = Math.round((step * GOLDEN_ANGLE) % 360);
    const gap = Math.min(360, ...taken.map((other) => hueGap(hue, other)));
    if (gap > best.gap) best = { hue, gap };
  }
  if (me.hue === best.hue) return;
  me.hue = best.hue;
  announce();
  render();
}

/** Two players who picked at the same moment: the later id picks again. */
function checkHueClash(pid, player) {
  if (pid !== id && ready && Number.isFinite(me.hue) && hueGap(player.hue, me.hue) < 20 && pid < id)
    pickHue();
}

/** A player's colour; one not yet picked (or from an older page) comes from its id. */
function colorOf(pid, player) {
  const hue = Number.isFinite(player.hue)
    ? player.hue
    : [...pid].reduce((sum, c) => (sum * 31 + c.charCodeAt(0)) % 360, 7);
  return `hsl(${hue} 75% ${Number.isFinite(player.hue) ? 48 : 70}%)`;
}

// ---- the rules: applied to every message in channel order, the same in every tab -------------
function receive(msg) {
  if (!msg || typeof msg.id !== 'string') return;
  const mine = msg.id === id;
  const known = msg.id in demo.players;
  if (!known) demo.players[msg.id] = { name: String(msg.name), x: 0, y: 0, score: 0, hue: null };
  const player = demo.players[msg.id];
  player.seen = Date.now();
  if (msg.t === 'move' && !mine) Object.assign(player, { x: Number(msg.x), y: Number(msg.y) });
  if (msg.t === 'move' && mine && msg.at >= since) demo.latencyMs = Date.now() - msg.at;
  if (msg.t === 'hello') {
    if (!mine) Object.assign(player, { name: String(msg.name), x: Number(msg.x), y: Number(msg.y) });
    if (!mine && Number.isFinite(msg.hue)) {
      player.hue = msg.hue;
      checkHueClash(msg.id, player);
    }
    // A player knows its own score as well as anyone: it saw every grab, in the same order.
    player.score = Math.max(player.score, Number(msg.score) || 0);
    if (Number.isInteger(msg.item) && msg.item > demo.item.k) setItem(msg.item);
    if (!known && !mine) answerNewcomer();
  }
  if (msg.t === 'grab' && Number.isInteger(msg.k) && msg.k >= demo.item.k) {
    player.score += 1; // the first grab of item k in channel order wins; later ones are stale
    setItem(msg.k + 1);
  }
  if (msg.t === 'bye' && !mine) delete demo.players[msg.id];
  render();
}

const setItem = (k) => Object.assign(demo, { item: { k, ...itemAt(k) } });

let lastChat = { epoch: null, offset: 0 };
/** A chat line from history or live, once: the two overlap by design. */
function addChat({ epoch, offset, data }) {
  if (epoch === lastChat.epoch && offset <= lastChat.offset) return;
  lastChat = { epoch, offset };
  if (data?.t !== 'chat') return;
  demo.chat = [...demo.chat, { name: String(data.name), text: String(data.text) }].slice(-50);
}

// A player that went quiet (closed laptop, lost network) leaves the board.
setInterval(() => {
  for (const [pid, player] of Object.entries(demo.players)) {
    if (pid !== id && Date.now() - player.seen > EXPIRE_MS) delete demo.players[pid];
  }
  render();
}, 1000);

// ---- input: keys, on-screen buttons, chat, transport -----------------------------------------
// [dx, dy] by key position: WASD, or ZQSD on an AZERTY keyboard.
const DIRECTIONS = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
Object.assign(DIRECTIONS, { KeyW: DIRECTIONS.ArrowUp, KeyS: DIRECTIONS.ArrowDown });
Object.assign(DIRECTIONS, { KeyA: DIRECTIONS.ArrowLeft, KeyD: DIRECTIONS.ArrowRight });
const held = new Set();
let grabbed = -1; // the item this player last claimed
const typing = (event) => ['INPUT', 'SELECT'].includes(event.target.tagName);
addEventListener('keydown', (event) => {
  if (typing(event) || !DIRECTIONS[event.code]) return;
  held.add(DIRECTIONS[event.code]);
  event.preventDefault();
});
addEventListener('keyup', (event) => held.delete(DIRECTIONS[event.code]));
addEventListener('blur', () => held.clear());
for (const button of document.querySelectorAll('#pad button')) {
  const direction = DIRECTIONS[button.dataset.key];
  button.addEventListener('pointerdown', () => held.add(direction));
  for (const type of ['pointerup', 'pointerleave', 'pointercancel']) {
    button.addEventListener(type, () => held.delete(direction));
  }
}

setInterval(() => {
  const dx = [...held].reduce((sum, [x]) => sum + x, 0);
  const dy = [...held].reduce((sum, [, y]) => sum + y, 0);
  if (!dx && !dy) return;
  const step = (SPEED * TICK_MS) / 1000;
  const clamp = (value, max) => Math.round(Math.min(max, Math.max(0, value)) * 10) / 10;
  me.x = clamp(me.x + dx * step, W - 1);
  me.y = clamp(me.y + dy * step, H - 1);
  sendPosition();
  const { k, x, y } = demo.item;
  if (ready && grabbed !== k && Math.abs(me.x - x) < 0.8 && Math.abs(me.y - y) < 0.8) {
    grabbed = k;
    send('grab', { k }); // a claim: it counts once it comes back first in channel order
  }
  render();
}, TICK_MS);

$('#chat').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('#chat input');
  const text = input.value.trim().slice(0, 200);
  if (text) send('chat', { text }, chatChannel);
  input.value = '';
  input.blur(); // back to the game: the arrow keys move again
});

const picker = $('#transport');
picker.addEventListener('change', () => {
  params.set('transport', picker.value);
  history.replaceState(null, '', `?${params}`);
  picker.querySelector('option[data-unknown]')?.remove();
  demo.state = 'connecting';
  note(`switching to ${picker.value}`);
  connect(picker.value);
  picker.blur(); // so the arrow keys move the player, not the selection
});
addEventListener('pagehide', () => send('bye'));

/** `?transport=`: any name or alias the server knows (ws, poll, ...), or auto. */
function chosenTransport() {
  const asked = params.get('transport');
  if (!asked || asked.trim().toLowerCase() === 'auto') return 'auto';
  const parsed = parseTransportName(asked);
  if (parsed) return parsed;
  // Shown in the selector too, so that it never sits blank.
  const shown = Object.assign(document.createElement('option'), {
    value: '',
    textContent: `unknown: ${asked}`,
  });
  shown.dataset.unknown = '';
  picker.prepend(shown);
  picker.value = '';
  fail(`unknown transport "${asked}": use ${transportNamesHint()}, or auto`);
  return null;
}

// ---- drawing --------------------------------------------------------------------------------
function $(selector) {
  return document.querySelector(selector);
}
const avatars = new Map();
const at = (element, x, y) => {
  element.style.left = `${(x / W) * 100}%`;
  element.style.top = `${(y / H) * 100}%`;
};

function render() {
  for (const [pid, player] of Object.entries(demo.players)) {
    let avatar = avatars.get(pid);
    if (!avatar) {
      avatar = Object.assign(document.createElement('div'), {
        className: pid === id ? 'avatar me' : 'avatar',
      });
      avatar.append(document.createElement('span'));
      $('#board').append(avatar);
      avatars.set(pid, avatar);
    }
    avatar.style.setProperty('--color', colorOf(pid, player));
    avatar.firstChild.textContent = player.name;
    Object.assign(avatar.dataset, { id: pid, x: player.x, y: player.y });
    at(avatar, player.x, player.y);
  }
  for (const [pid, avatar] of avatars) {
    if (demo.players[pid]) continue;
    avatar.remove();
    avatars.delete(pid);
  }
  at($('#item'), demo.item.x, demo.item.y);
  const ranking = Object.entries(demo.players).sort(
    ([, a], [, b]) => b.score - a.score || a.name.localeCompare(b.name),
  );
  $('#scores').replaceChildren(
    ...ranking.map(([pid, p]) => {
      const item = line(p.name, p.score);
      item.style.setProperty('--color', colorOf(pid, p));
      return item;
    }),
  );
  $('#chat-log').replaceChildren(...demo.chat.slice(-8).map((c) => line(c.name, null, c.text)));
  $('#chat-log').scrollTop = $('#chat-log').scrollHeight;
  $('#in-use').textContent = demo.transport ?? '–';
  $('#state').replaceChildren(
    demo.state,
    ...(demo.error ? [document.createElement('br'), small(demo.error)] : []),
  );
  $('#state').className = demo.state.startsWith('cannot') ? 'error' : demo.state.split(' ')[0];
  $('#latency').textContent = demo.latencyMs === null ? '–' : `${demo.latencyMs} ms`;
  renderKeepAlive();
  $('#log').replaceChildren(
    ...demo.log.slice(-8).map((text) => Object.assign(line(null, null, text), { title: text })),
  );
}

const ago = (time) =>
  time === null ? 'never' : `${Math.max(0, (Date.now() - time) / 1000).toFixed(0)} s ago`;

/** What keeps this connection open: its own traffic, or the server's heartbeats. */
function renderKeepAlive() {
  const interval = demo.heartbeatIntervalMs;
  const every = interval ? `${interval / 1000} s` : null;
  $('#interval').textContent =
    every ?? (interval === null ? 'an interval (off on this server)' : 'its interval');
  const rule =
    demo.transport === 'longpoll'
      ? 'a held poll answers empty at the poll timeout'
      : every
        ? `the server pings after ${every} of silence`
        : interval === null
          ? 'heartbeats are off'
          : '';
  if (demo.transport === null) {
    $('#keepalive').textContent = '–';
    $('#beats').replaceChildren(String(demo.heartbeats));
    return;
  }
  const last = demo.lastTrafficAt === null ? 'no traffic yet' : `traffic ${ago(demo.lastTrafficAt)}`;
  $('#keepalive').replaceChildren(last, document.createElement('br'), small(rule));
  const beats =
    demo.heartbeats === 0 ? 'none needed yet: traffic kept it open' : `last ${ago(demo.lastHeartbeatAt)}`;
  $('#beats').replaceChildren(`${demo.heartbeats} `, small(beats));
}

function small(text) {
  return Object.assign(document.createElement('small'), { textContent: text });
}

function line(bold, score, text = '') {
  const item = document.createElement('li');
  if (bold) item.append(Object.assign(document.createElement('b'), { textContent: bold }));
  if (score !== null) item.append(Object.assign(document.createElement('span'), { textContent: score }));
  item.append(text); // text nodes: what players type is never parsed as HTML
  return item;
}

function setState(state, text) {
  demo.state = state;
  note(text);
}

/** A state the page can't leave by itself: said in red, and the client is stopped. */
function fail(text) {
  client?.close();
  demo.transport = null;
  demo.error = text;
  setState('error', text);
}

function note(text) {
  demo.log = [...demo.log, `${new Date().toLocaleTimeString()} ${text}`].slice(-50);
  render();
}

function pulse() {
  demo.heartbeats += 1;
  demo.lastHeartbeatAt = Date.now();
  demo.lastTrafficAt = demo.lastHeartbeatAt;
  const dot = $('#pulse');
  dot.classList.remove('beat');
  void dot.offsetWidth; // restarts the CSS animation
  dot.classList.add('beat');
  render();
}

$('#channel').textContent = channel;
$('#me').textContent = name;
const transport = chosenTransport();
if (transport) {
  picker.value = transport;
  const history = await recentChat();
  if (history) {
    for (const message of history.messages) addChat(message);
    cursor = history.cursor;
    if (history.messages.length > 0) note(`${history.messages.length} chat lines from history`);
  } else {
    note('no chat history: it is read over WebSocket, which did not answer');
  }
  connect(transport);
  serverHeartbeat().then((ms) => {
    demo.heartbeatIntervalMs = ms;
    render();
  });
}
render();
