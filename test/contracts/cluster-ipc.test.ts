import { IpcBroker } from '../../src/brokers/index.ts';
import { doomedWorker, linkTo, startPrimary, stopPrimary } from '../helpers/ipc-link.ts';
import { clusterContract } from './cluster.contract.ts';

clusterContract({
  name: 'ipc (workers of one primary)',
  // Views of one scope are workers of one primary; the tests name channels alike, so each
  // scope gets a primary of its own.
  shared: true,
  async scope() {
    const primary = await startPrimary();
    return {
      async node() {
        const broker = new IpcBroker({ link: linkTo(primary) });
        await broker.start({ publication: () => {}, recovered: () => {} });
        return { cluster: broker.cluster, close: () => broker.close() };
      },
      doomedNode: (id, counts, clients) => doomedWorker(primary, id, counts, clients),
      // A worker's end is known at once: the primary sees its process exit.
      lostWithinMs: 10_000,
      dispose: () => stopPrimary(primary),
    };
  },
});
