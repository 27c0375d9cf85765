import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RedisBroker } from '../../src/brokers/index.ts';
import { cleanPrefix, redisUrl, startOneNodeCluster, uniquePrefix } from '../helpers/redis.ts';
import { type ClusterScope, clusterContract } from './cluster.contract.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Short, so that a killed node is found lost within the test's patience. */
const LEASE_MS = 1200;

function redisScope(url: string, cluster: boolean): ClusterScope {
  const prefix = uniquePrefix();
  const children = new Set<ChildProcess>();
  return {
    async node() {
      const broker = new RedisBroker({ url, prefix, nodeLeaseMs: LEASE_MS, cluster });
      await broker.start({ publication: () => {}, recovered: () => {} });
      return { cluster: broker.cluster, close: () => broker.close() };
    },
    async doomedNode(id, counts, clients = {}, { dieWhenTold = false } = {}) {
      const args = [
        url,
        prefix,
        id,
        String(LEASE_MS),
        JSON.stringify(counts),
        cluster ? 'cluster' : 'single',
        JSON.stringify(clients),
        dieWhenTold ? 'die-when-told' : 'live',
      ];
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/cluster-node.ts', ...args], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.add(child);
      const exited = once(child, 'exit').then(() => {
        children.delete(child);
      });
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (out.includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`cluster node exited with ${code}`)));
      });
      return {
        exited,
        async kill() {
          process.kill(child.pid!, 'SIGKILL');
          await exited;
        },
      };
    },
    lostWithinMs: LEASE_MS * 3 + 2000,
    // A claim lasts two leases (cluster.ts), then the next renewal takes it over.
    reclaimedWithinMs: LEASE_MS * 6 + 4000,
    async dispose() {
      for (const child of children) if (child.exitCode === null) process.kill(child.pid!, 'SIGKILL');
      await cleanPrefix(prefix, url);
    },
  };
}

clusterContract({
  name: 'redis',
  shared: true,
  killable: true,
  scope: async () => redisScope(redisUrl(), false),
});

let clusterServer: ReturnType<typeof startOneNodeCluster> | null = null;
after(async () => {
  if (clusterServer) await (await clusterServer).cleanup();
});

clusterContract({
  name: 'redis cluster',
  shared: true,
  killable: true,
  async scope() {
    clusterServer ??= startOneNodeCluster();
    return redisScope((await clusterServer).url, true);
  },
});
