// The raw Node ceiling as several processes, as Pushwire's `serve --workers N` is: node:cluster
// forks N raw-server.ts workers that share the port (the primary hands out connections), and
// a publish any worker gets comes here to be numbered and is sent to every worker once. That is
// the least a multi-process server adds to the single-process ceiling; it also keeps each
// process under the open-file limit when the connections outnumber it.
//
// usage: node --import tsx packages/bench/targets/raw-cluster.ts --workers N [--port P]
//                                            [--host 127.0.0.1] [--history 1000] [--heartbeat 0]
import cluster, { type Worker } from 'node:cluster';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { RelayedPublish } from './raw-server.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    history: { type: 'string', default: '1000' },
    heartbeat: { type: 'string', default: '0' },
  },
});
const count = Math.max(1, Number(values.workers) || 1);
// Port 0 would give each worker its own port: the cluster shares one only when it is named.
if (values.port === '0') throw new Error('raw-cluster needs --port');

cluster.setupPrimary({
  // raw-server.ts, or raw-server.mjs when the bench runs the compiled targets.
  exec: join(import.meta.dirname, `raw-server${extname(import.meta.filename)}`),
  args: [
    '--port',
    values.port,
    '--host',
    values.host,
    '--history',
    values.history,
    '--heartbeat',
    values.heartbeat,
  ],
});

const offsets = new Map<string, number>();
const workers: Worker[] = [];
let listening = 0;
for (let i = 0; i < count; i++) {
  const worker = cluster.fork();
  workers.push(worker);
  worker.once('listening', () => {
    listening += 1;
    if (listening === count) process.stdout.write(`raw listening on http://${values.host}:${values.port}\n`);
  });
  worker.on('message', (message: RelayedPublish) => {
    if (message?.raw !== 'publish') return;
    const offset = (offsets.get(message.channel) ?? 0) + 1;
    offsets.set(message.channel, offset);
    const numbered: RelayedPublish = { ...message, offset };
    for (const each of workers) if (each.isConnected()) each.send(numbered);
  });
  worker.on('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`raw worker exited (${signal ?? code})\n`);
  });
}

let stopping = false;
function stop(): void {
  stopping = true;
  for (const worker of workers) worker.process.kill('SIGTERM');
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
