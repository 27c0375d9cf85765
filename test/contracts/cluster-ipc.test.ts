import { IpcBroker } from '../../src/brokers/index.ts';
import { linkTo, startPrimary, stopPrimary } from '../helpers/ipc-link.ts';
import { clusterContract } from './cluster.contract.ts';

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
      dispose: () => stopPrimary(primary),
    };
  },
});
