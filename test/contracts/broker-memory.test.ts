import { MemoryBroker } from '../../src/brokers/index.ts';
import { brokerContract } from './broker.contract.ts';

brokerContract({
  name: 'memory',
  // Each memory broker is a node on its own.
  shared: false,
  async scope() {
    return { node: () => new MemoryBroker(), dispose: async () => {} };
  },
});
