import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IpcLink } from '../../src/brokers/index.ts';

const primaryScript = fileURLToPath(new URL('./ipc-primary.ts', import.meta.url));

/** A real primary process; every broker given `linkTo` it talks to it over IPC. */
export async function startPrimary(): Promise<ChildProcess> {
  const child = fork(primaryScript, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`the primary exited with ${code}`)));
  });
  return child;
}

export function linkTo(child: ChildProcess): IpcLink {
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

/** Stops a primary started by startPrimary. */
export async function stopPrimary(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await exited;
}

/**
 * A second worker of the primary, in a process of its own, that joins the cluster as `id`,
 * reports `counts` and adds `clients`; `kill` ends it without a word (SIGKILL).
 */
export async function doomedWorker(
  child: ChildProcess,
  id: string,
  counts: Record<string, number>,
  clients: Record<string, string | null> = {},
) {
  const pid = await new Promise<number>((resolve) => {
    const listener = (message: { harness?: string; pid?: number }) => {
      if (message.harness !== 'doomed-ready') return;
      child.off('message', listener);
      resolve(message.pid!);
    };
    child.on('message', listener);
    child.send({ harness: 'doomed', id, counts, clients });
  });
  return {
    async kill() {
      process.kill(pid, 'SIGKILL');
    },
  };
}
