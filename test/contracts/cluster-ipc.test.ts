import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { IpcBroker, type IpcLink } from '../../src/brokers/index.ts';
import { clusterContract } from './cluster.contract.ts';

const primaryScript = fileURLToPath(new URL('../helpers/ipc-primary.ts', import.meta.url));

/** A real primary process; the brokers of a scope are its workers, talking to it over IPC. */
async function startPrimary(): Promise<ChildProcess> {
  const child = fork(primaryScript, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the primary exited with ${code}`)));
  });
  return child;
}

function linkTo(child: ChildProcess): IpcLink {
  return {
    send: (message) => {
      child.send(message);
    },
    onMessage(listener) {
      child.on('message', listener);
      return () => child.off('message', listener);
    },
  };
}

clusterContract({
  name: 'ipc (workers of one primary)',
  shared: true,
  async scope() {
    // A primary per scope: the cluster of one test starts empty.
    const primary = await startPrimary();
    return {
      async node() {
        const broker = new IpcBroker({ link: linkTo(primary) });
        await broker.start({ publication: () => {}, recovered: () => {} });
        return { cluster: broker.cluster, close: () => broker.close() };
      },
      lostWithinMs: 0,
      async dispose() {
        const exited = once(primary, 'exit');
        primary.disconnect();
        await exited;
      },
    };
  },
});
