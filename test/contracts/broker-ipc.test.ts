import type { ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { IpcBroker } from '../../src/brokers/index.ts';
import { linkTo, startPrimary, stopPrimary } from '../helpers/ipc-link.ts';
import { brokerContract } from './broker.contract.ts';

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
  if (primary) await stopPrimary(await primary);
});
