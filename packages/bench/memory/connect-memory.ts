// Heap cost of idle connections, independent of the machine's load: allocated bytes per
// connect and live bytes per idle connection, for Pushwire and the raw server side by side.
// Each server runs with a young generation large enough that no GC runs while the clients
// connect, so heap growth between two probes is what connecting allocated (a run where a GC
// did run is reported as such, not counted). See docs/benchmarks.md.
//
// usage: node --import tsx packages/bench/memory/connect-memory.ts [N=1000] [transports=ws,sse,stream,poll] [targets=pushwire,raw]
// CONNECT_MEMORY_BIN=path/to/bin/pushwire.js measures another build of Pushwire (an earlier commit's).
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { pushwireBin } from '../src/targets.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const N = Number(process.argv[2] ?? 1000);
const transports = (process.argv[3] ?? 'ws,sse,stream,poll').split(',');
const targets = (process.argv[4] ?? 'pushwire,raw').split(',');
const CHANNEL = 'bench';

const NODE_FLAGS = [
  '--expose-gc',
  '--min-semi-space-size=256',
  '--max-semi-space-size=256',
  '--import',
  join(HERE, 'heap-probe.mjs'),
];

function start(target: string): Promise<{ child: ChildProcess; base: string; lines: string[] }> {
  const args =
    target === 'raw'
      ? ['--import', 'tsx', join(HERE, '..', 'targets', 'raw-server.ts'), '--port', '0']
      : [
          process.env.CONNECT_MEMORY_BIN ?? pushwireBin(),
          'serve',
          '--api-key',
          'bench-key-0123456789abcdef',
          '--max-connections',
          'off',
          '--max-connections-per-ip',
          'off',
          '--port',
          '0',
        ];
  const child = spawn(process.execPath, [...NODE_FLAGS, ...args, '--host', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const parts = out.split('\n');
      out = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        const match = /listening on (http:\/\/[^\s]+)/i.exec(line);
        if (match) resolve({ child, base: match[1]!.replace(/\/+$/, ''), lines });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${target} exited ${code}: ${lines.join('\n')}`)));
  });
}

async function probe(child: ChildProcess, lines: string[], prefix: string): Promise<string> {
  const from = lines.length;
  child.kill('SIGUSR2');
  for (let i = 0; i < 600; i++) {
    const hit = lines.slice(from).find((line) => line.startsWith(prefix));
    if (hit) return hit;
    await sleep(50);
  }
  throw new Error(`no "${prefix}" line`);
}

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/** Opens one connection; resolves once the server has answered (or, for a held poll, sent it). */
function open(base: string, transport: string, keep: Array<() => void>): Promise<void> {
  return new Promise((resolve, reject) => {
    if (transport === 'ws') {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { perMessageDeflate: false });
      keep.push(() => ws.terminate());
      ws.on('open', () => ws.send(JSON.stringify({ id: 1, op: 'subscribe', channel: CHANNEL })));
      ws.on('message', (raw) => {
        const text = String(raw);
        if (text.startsWith('{"op":"ping"')) ws.send('{"op":"pong"}');
        if (text.includes('"op":"reply"')) resolve();
      });
      ws.on('error', reject);
      return;
    }
    if (transport === 'poll') {
      // The first poll answers at once with the channel's cursor; the second one is held, and
      // counts once the request is out (the caller waits for the server to take it in).
      const first = request(`${base}/poll?channel=${CHANNEL}`, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const at = body.lastIndexOf('"cursor":"');
          const cursor = at === -1 ? '' : body.slice(at + 10, body.indexOf('"', at + 10));
          const held = request(`${base}/poll?channel=${CHANNEL}&cursor=${encodeURIComponent(cursor)}`, {
            agent: false,
          });
          keep.push(() => held.destroy());
          held.on('error', () => {});
          held.on('finish', () => resolve());
          held.end();
        });
      });
      first.on('error', reject);
      first.end();
      return;
    }
    const path = transport === 'sse' ? '/sse' : '/stream';
    const accept = transport === 'sse' ? 'text/event-stream' : 'application/x-ndjson';
    const req = request(`${base}${path}?channel=${CHANNEL}`, { headers: { Accept: accept }, agent: false });
    keep.push(() => req.destroy());
    req.on('error', () => {});
    req.on('response', (res) => res.once('data', () => resolve()));
    req.end();
  });
}

for (const transport of transports) {
  for (const target of targets) {
    const { child, base, lines } = await start(target);
    // A first connection warms up code paths (and creates the channel) on both targets alike.
    const warm: Array<() => void> = [];
    await open(base, transport, warm);
    await sleep(transport === 'poll' ? 1000 : 200);
    await probe(child, lines, 'heap-probe marked');
    const keep: Array<() => void> = [];
    for (let i = 0; i < N; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, N - i) }, () => open(base, transport, keep)));
    }
    // Held polls: give the server time to take each one in.
    await sleep(transport === 'poll' ? 2000 : 300);
    const line = await probe(child, lines, 'heap-probe {');
    const { grown, gcsBetween, live } = JSON.parse(line.slice('heap-probe '.length)) as {
      grown: number;
      gcsBetween: number;
      live: number;
    };
    const allocated = gcsBetween === 0 ? Math.round(grown / N) : null;
    console.log(
      JSON.stringify({
        transport,
        target,
        N,
        allocatedPerConnect: allocated,
        gcsBetween,
        livePerConnection: Math.round(live / N),
      }),
    );
    for (const close of [...keep, ...warm]) close();
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
  }
}
