import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.ts';

/**
 * A Lua script kept as a file beside this module. It runs by EVALSHA and falls back to EVAL
 * when Redis doesn't know it (first use, or a restart flushed the script cache). The file is
 * read on first use, so that importing the brokers layer costs nothing to memory-broker users.
 */
export class LuaScript {
  private loaded: { readonly source: string; readonly sha: string } | null = null;

  constructor(private readonly file: string) {}

  async run(
    client: RedisClient,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    const { source, sha } = this.load();
    try {
      return await client.evalsha(sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await client.eval(source, keys.length, ...keys, ...args);
    }
  }

  private load(): { readonly source: string; readonly sha: string } {
    if (!this.loaded) {
      const source = readFileSync(new URL(`./lua/${this.file}`, import.meta.url), 'utf8');
      this.loaded = { source, sha: createHash('sha1').update(source).digest('hex') };
    }
    return this.loaded;
  }
}

export const SCRIPTS = {
  publish: new LuaScript('publish.lua'),
  history: new LuaScript('history.lua'),
  presenceJoin: new LuaScript('presence-join.lua'),
  presenceList: new LuaScript('presence-list.lua'),
  nodeLease: new LuaScript('node-lease.lua'),
  nodeList: new LuaScript('node-list.lua'),
  nodeClaimLost: new LuaScript('node-claim-lost.lua'),
  occupancy: new LuaScript('occupancy.lua'),
};
