// Copies what tsc doesn't: the Redis Lua scripts, read at run time from beside the module.
import { cpSync } from 'node:fs';

const root = new URL('..', import.meta.url);
cpSync(new URL('src/brokers/redis/lua/', root), new URL('dist/brokers/redis/lua/', root), { recursive: true });
