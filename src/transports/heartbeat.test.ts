import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Beating, HeartbeatWheel } from './heartbeat.ts';

function member(answering: boolean): Beating & { pings: number; timeouts: number } {
  return {
    lastWriteTick: 0,
    lastSeenAt: answering ? Date.now() : null,
    pings: 0,
    timeouts: 0,
    ping() {
      this.pings += 1;
    },
    timedOut() {
      this.timeouts += 1;
    },
  };
}

test('idle connections are pinged once per interval; busy ones never', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const wheel = new HeartbeatWheel({ intervalMs: 1000, timeoutMs: 1000 });
  const idle = member(false);
  const busy = member(false);
  wheel.add(idle);
  wheel.add(busy);
  for (let ms = 0; ms < 5000; ms += 100) {
    t.mock.timers.tick(100);
    busy.lastWriteTick = wheel.tick; // a message went out: that counts as a heartbeat
  }
  assert.equal(idle.pings, 5);
  assert.equal(busy.pings, 0);
  wheel.stop();
});

test('a peer silent past interval + timeout is timed out once and dropped; one that answers is kept', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const wheel = new HeartbeatWheel({ intervalMs: 1000, timeoutMs: 500 });
  const silent = member(true);
  const answering = member(true);
  wheel.add(silent);
  wheel.add(answering);
  for (let ms = 0; ms < 1400; ms += 100) {
    t.mock.timers.tick(100);
    answering.lastSeenAt = Date.now();
  }
  assert.equal(silent.timeouts, 0, 'not before interval + timeout');
  for (let ms = 0; ms < 300; ms += 100) {
    t.mock.timers.tick(100);
    answering.lastSeenAt = Date.now();
  }
  assert.equal(silent.timeouts, 1);
  assert.equal(answering.timeouts, 0);
  assert.equal(wheel.size, 1);
  wheel.stop();
});

test('a busy answering peer is still pinged, so that its answers keep it alive', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const wheel = new HeartbeatWheel({ intervalMs: 1000, timeoutMs: 1000 });
  const peer = member(true);
  peer.ping = function () {
    this.pings += 1;
    this.lastSeenAt = Date.now(); // it answers every ping
  };
  wheel.add(peer);
  for (let ms = 0; ms < 10_000; ms += 100) {
    t.mock.timers.tick(100);
    peer.lastWriteTick = wheel.tick; // a message goes out every turn
  }
  assert.equal(peer.timeouts, 0);
  assert.ok(peer.pings >= 5 && peer.pings <= 10, `pinged ${peer.pings} times in 10 intervals`);
  wheel.stop();
});

test('a connection that says it stopped draining is asked once per interval, then timed out and dropped', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const wheel = new HeartbeatWheel({ intervalMs: 1000, timeoutMs: 1000 });
  let asked = 0;
  const stuck = Object.assign(member(false), { stalled: () => ++asked >= 3 });
  const draining = Object.assign(member(false), { stalled: () => false });
  wheel.add(stuck);
  wheel.add(draining);
  t.mock.timers.tick(2500);
  assert.equal(asked, 2);
  assert.equal(stuck.timeouts, 0);
  t.mock.timers.tick(500);
  assert.equal(asked, 3);
  assert.equal(stuck.timeouts, 1);
  assert.equal(wheel.size, 1);
  t.mock.timers.tick(5000);
  assert.equal(asked, 3);
  assert.equal(draining.timeouts, 0);
  wheel.stop();
});

test('a connection ended by another one in the same turn is neither pinged nor timed out', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const wheel = new HeartbeatWheel({ intervalMs: 1000, timeoutMs: 500 });
  const silent = member(true);
  const idle = member(false);
  // The session of the silent peer also owned the idle stream: its timeout ends both.
  silent.timedOut = function () {
    this.timeouts += 1;
    wheel.remove(idle);
  };
  wheel.add(silent);
  wheel.add(idle);
  idle.lastWriteTick = 10; // written to lately: not due for a ping before the silent peer's timeout
  t.mock.timers.tick(1600);
  assert.equal(silent.timeouts, 1);
  assert.equal(idle.pings, 0);
  assert.equal(idle.timeouts, 0);
  assert.equal(wheel.size, 0);
});

test('the turns of a wheel allocate nothing per connection', (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'Date'] });
  const wheel = new HeartbeatWheel({ intervalMs: 1000, timeoutMs: 1000 });
  const members = Array.from({ length: 2000 }, () => member(false));
  for (const m of members) {
    m.ping = () => {};
    wheel.add(m);
  }
  t.mock.timers.tick(2000); // the first turns: compiled and warm
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  // Few enough turns that the young generation doesn't fill: the growth of the heap is what
  // they allocated.
  const turns = 5;
  const before = process.memoryUsage().heapUsed;
  t.mock.timers.tick(turns * 200);
  const perVisit = (process.memoryUsage().heapUsed - before) / (turns * members.length);
  // A [key, value] array per connection and turn (for..of over the Map) is 64 bytes.
  assert.ok(perVisit < 8, `${perVisit.toFixed(1)} bytes per connection and turn`);
  wheel.stop();
});
