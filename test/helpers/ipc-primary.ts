import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BrokerHost, type HostPort } from '../../src/brokers/index.ts';

/**
 * A primary for the IPC broker's contracts: a process of its own holding the BrokerHost, with
 * the test process (and every broker in it) as one worker. Asked `{harness: 'doomed'}`, it
 * forks a second worker that joins the cluster and waits to be killed.
 */
const send = process.send?.bind(process);
if (!send) throw new Error('run me with an IPC channel (child_process.fork)');
const host = new BrokerHost();
await host.start();
const parent: HostPort = { send: (message) => void send(message) };
const doomedScript = fileURLToPath(new URL('../fixtures/ipc-doomed-node.ts', import.meta.url));

process.on(
  'message',
  (message: {
    harness?: string;
    id?: string;
    counts?: Record<string, number>;
    clients?: Record<string, string | null>;
  }) => {
    if (message.harness !== 'doomed') {
      host.receive(parent, message);
      return;
    }
    const child = fork(
      doomedScript,
      [message.id!, JSON.stringify(message.counts), JSON.stringify(message.clients ?? {})],
      {
        execArgv: ['--import', 'tsx'],
        stdio: 'inherit',
      },
    );
    const port: HostPort = { send: (m) => void (child.connected && child.send(m)) };
    child.on('message', (m: { harness?: string }) => {
      if (m.harness === 'ready') send({ harness: 'doomed-ready', pid: child.pid });
      else host.receive(port, m);
    });
    child.on('exit', () => host.portGone(port));
  },
);
process.on('disconnect', () => process.exit(0));
send({ harness: 'ready' });
