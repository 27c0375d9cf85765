import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.ts';

/**
 * A Lua script kept as a file beside this module. It runs by EVALSHA and falls back to EVAL
 * when Redis doesn't know it (first use, or a restart flushed the script cache).
 */
export class LuaScript {
  readonly source: string;
  readonly sha: string;

  constructor(file: string) {
    this.source = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
    this.sha = createHash('sha1').update(this.source).digest('hex');
  }

  async run(
    client: RedisClient,
    keys: readonly string[],
    args: ReadonlyArray<string | number>,
  ): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return await client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

export const SCRIPTS = {
  publish: new LuaScript('publish.lua'),
  history: new LuaScript('history.lua'),
  presenceJoin: new LuaScript('presence-join.lua'),
  presenceList: new LuaScript('presence-list.lua'),
};
