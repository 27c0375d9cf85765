// The Pushwire demo: a small multiplayer game on one channel. Every tab is a player; it
// publishes its moves, chat lines and item grabs with `client.publish` and draws what everyone
// published. The server only relays: the game's rules run the same in every tab, because every
// tab gets the channel's messages in the same order. See docs/demo.md.
import { Pushwire } from './pushwire.js';

const W = 24; // board size in cells
const H = 14;
const SPEED = 8; // cells a second
const TICK_MS = 50; // at most 20 position updates a second
const params = new URLSearchParams(location.search);
const ANNOUNCE_MS = 1000 * Number(params.get('announce') || 3); // re-announce, for newcomers
const EXPIRE_MS = Math.max(10_000, 3 * ANNOUNCE_MS); // a player silent this long has left
const server = new URL('.', import.meta.url).href.replace(/\/$/, ''); // where this file came from
const channel = `game:${params.get('room') || 'lobby'}`;
const id = Math.random().toString(36).slice(2, 8);
const name = (params.get('name') || `player-${id.slice(0, 3)}`).slice(0, 16);

// Everything the page shows, kept in one object (tests and the console can read it).
const demo = {
  id,
  name,
  channel,
  transport: null,
  state: 'connecting',
  latencyMs: null,
  heartbeats: 0,
  players: Object.create(null), // id -> { name, x, y, score, seen }; no prototype: ids are untrusted
  item: { k: 0, ...itemAt(0) },
  chat: [],
  log: [],
};
window.__demo = demo;
const me = { name, x: Math.floor(Math.random() * W), y: Math.floor(Math.random() * H), score: 0 };
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

const GAPS = { epoch: 'the server lost the history (restarted?)', window: 'missed messages left history' };
function connect(transport) {
  client?.close();
  const transports = transport === 'auto' ? undefined : [transport];
  client = new Pushwire(server, { transports, cursor });
  since = Date.now();
  client.on('connected', (event) => {
    // After a cut (or a switch: the new client starts from `cursor`) nothing is missed: what
    // was published meanwhile arrives first.
    const resumed = lastOffset === null ? '' : `, resumed after #${lastOffset}`;
    demo.transport = event.transport;
    setState('connected', `connected over ${event.transport}${resumed}`);
  });
  client.on('subscribed', () => {
    announce(); // now that we hear the channel, the others' answers will reach us
    setTimeout(() => (ready = true), 1000);
  });
  client.on('disconnected', (event) => {
    demo.transport = null;
    setState('disconnected', `disconnected: ${event.reason}`);
  });
  client.on('reconnecting', ({ delayMs, transport: next }) =>
    setState(`reconnecting in ${delayMs} ms`, `reconnecting over ${next} in ${delayMs} ms`),
  );
  client.on('gap', (gap) => note(`gap: ${GAPS[gap.reason]}; on from #${gap.nextOffset}`));
  client.on('heartbeat', pulse);
  client.on('error', (error) => note(`error: ${error.message}`));
  client.subscribe(channel, (message) => {
    cursor = message.cursor;
    lastOffset = message.offset;
    receive(message.data);
  });
}

/** Publishes one game message; the SDK picks WebSocket or HTTP POST by itself. */
function send(type, fields = {}) {
  return client
    .publish(channel, { t: type, id, name, ...fields })
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
  send('hello', { x: me.x, y: me.y, score: me.score, item: demo.item.k });
}
let answering;
function answerNewcomer() {
  clearTimeout(answering);
  answering = setTimeout(announce, 100 + Math.random() * 300);
}
setInterval(announce, ANNOUNCE_MS);

// ---- the rules: applied to every message in channel order, the same in every tab -------------
function receive(msg) {
  if (!msg || typeof msg.id !== 'string') return;
  const mine = msg.id === id;
  const known = msg.id in demo.players;
  if (!known) demo.players[msg.id] = { name: String(msg.name), x: 0, y: 0, score: 0 };
  const player = demo.players[msg.id];
  player.seen = Date.now();
  if (msg.t === 'move' && !mine) Object.assign(player, { x: Number(msg.x), y: Number(msg.y) });
  if (msg.t === 'move' && mine && msg.at >= since) demo.latencyMs = Date.now() - msg.at;
  if (msg.t === 'hello') {
    if (!mine) Object.assign(player, { name: String(msg.name), x: Number(msg.x), y: Number(msg.y) });
    // A player knows its own score as well as anyone: it saw every grab, in the same order.
    player.score = Math.max(player.score, Number(msg.score) || 0);
    if (Number.isInteger(msg.item) && msg.item > demo.item.k) setItem(msg.item);
    if (!known && !mine) answerNewcomer();
  }
  if (msg.t === 'grab' && Number.isInteger(msg.k) && msg.k >= demo.item.k) {
    player.score += 1; // the first grab of item k in channel order wins; later ones are stale
    setItem(msg.k + 1);
  }
  if (msg.t === 'chat') demo.chat = [...demo.chat, { name: msg.name, text: String(msg.text) }].slice(-50);
  if (msg.t === 'bye' && !mine) delete demo.players[msg.id];
  render();
}

const setItem = (k) => Object.assign(demo, { item: { k, ...itemAt(k) } });

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
  if (text) send('chat', { text });
  input.value = '';
  input.blur(); // back to the game: the arrow keys move again
});

const picker = $('#transport');
picker.value = params.get('transport') || 'auto';
picker.addEventListener('change', () => {
  params.set('transport', picker.value);
  history.replaceState(null, '', `?${params}`);
  demo.state = 'connecting';
  note(`switching to ${picker.value}`);
  connect(picker.value);
  picker.blur(); // so the arrow keys move the player, not the selection
});
addEventListener('pagehide', () => send('bye'));

// ---- drawing --------------------------------------------------------------------------------
function $(selector) {
  return document.querySelector(selector);
}
const avatars = new Map();
const at = (element, x, y) => {
  element.style.left = `${(x / W) * 100}%`;
  element.style.top = `${(y / H) * 100}%`;
};
const hue = (text) => [...text].reduce((sum, c) => (sum * 31 + c.charCodeAt(0)) % 360, 7);

function render() {
  for (const [pid, player] of Object.entries(demo.players)) {
    let avatar = avatars.get(pid);
    if (!avatar) {
      avatar = Object.assign(document.createElement('div'), {
        className: pid === id ? 'avatar me' : 'avatar',
      });
      avatar.style.setProperty('--color', `hsl(${hue(pid)} 70% 50%)`);
      avatar.append(document.createElement('span'));
      $('#board').append(avatar);
      avatars.set(pid, avatar);
    }
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
  const ranking = Object.values(demo.players).sort(
    (a, b) => b.score - a.score || a.name.localeCompare(b.name),
  );
  $('#scores').replaceChildren(...ranking.map((p) => line(p.name, p.score)));
  $('#chat-log').replaceChildren(...demo.chat.slice(-8).map((c) => line(c.name, null, c.text)));
  $('#in-use').textContent = demo.transport ?? '–';
  $('#state').textContent = demo.state;
  $('#state').className = demo.state.split(' ')[0]; // connected, reconnecting, ...
  $('#latency').textContent = demo.latencyMs === null ? '–' : `${demo.latencyMs} ms`;
  $('#beats').textContent = demo.heartbeats;
  $('#log').replaceChildren(...demo.log.slice(-6).map((text) => line(null, null, text)));
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

function note(text) {
  demo.log = [...demo.log, `${new Date().toLocaleTimeString()} ${text}`].slice(-50);
  render();
}

function pulse() {
  demo.heartbeats += 1;
  const dot = $('#pulse');
  dot.classList.remove('beat');
  void dot.offsetWidth; // restarts the CSS animation
  dot.classList.add('beat');
  render();
}

$('#channel').textContent = channel;
$('#me').textContent = name;
connect(picker.value);
render();
