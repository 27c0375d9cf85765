import { type ChildProcess, fork } from 'node:child_process';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { IpcBroker, type IpcLink } from '../../src/brokers/index.ts';
import { brokerContract } from './broker.contract.ts';

const primaryScript = fileURLToPath(new URL('../helpers/ipc-primary.ts', import.meta.url));

/** A real primary process per scope; every broker of the scope talks to it over IPC. */
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

brokerContract({
  name: 'ipc (workers of one primary)',
  // Brokers of one scope are workers of one primary: they share streams and presence.
  shared: true,
  async scope() {
    primary ??= startPrimary();
    const child = await primary;
    return { node: () => new IpcBroker({ link: linkTo(child) }), dispose: async () => {} };
  },
});

// One primary for the file: every test uses channels of its own, as workers of one primary do.
let primary: Promise<ChildProcess> | null = null;
after(async () => {
  if (!primary) return;
  const child = await primary;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await exited;
});
