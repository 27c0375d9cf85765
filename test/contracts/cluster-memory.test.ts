import { MemoryBroker } from '../../src/brokers/index.ts';
import { clusterContract } from './cluster.contract.ts';

clusterContract({
  name: 'memory',
  shared: false,
  async scope() {
    return {
      async node() {
        const broker = new MemoryBroker();
        await broker.start({ publication: () => {}, recovered: () => {} });
        return { cluster: broker.cluster, close: () => broker.close() };
      },
      lostWithinMs: 0,
      dispose: async () => {},
    };
  },
});
