import { BrokerHost } from '../../src/brokers/index.ts';

/**
 * A primary for the IPC broker's contract: a process of its own holding the BrokerHost, with
 * the test process (and every broker in it) as its one worker.
 */
const send = process.send?.bind(process);
if (!send) throw new Error('run me with an IPC channel (child_process.fork)');
const host = new BrokerHost();
await host.start();
const port = { send: (message: unknown) => void send(message) };
process.on('message', (message) => host.receive(port, message));
process.on('disconnect', () => process.exit(0));
send({ ready: true });
