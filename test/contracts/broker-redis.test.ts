import { RedisBroker } from '../../src/brokers/index.ts';
import { cleanPrefix, redisUrl, uniquePrefix } from '../helpers/redis.ts';
import { brokerContract } from './broker.contract.ts';

brokerContract({
  name: 'redis',
  shared: true,
  async scope() {
    const prefix = uniquePrefix();
    return {
      node: () => new RedisBroker({ url: redisUrl(), prefix }),
      dispose: () => cleanPrefix(prefix),
    };
  },
});
