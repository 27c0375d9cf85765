// Copies what tsc doesn't: the Redis Lua scripts, read at run time from beside the module, and
// the demo game's static files and the admin dashboard's, which `pushwire serve` serves from
// beside the modules that serve them.
import { cpSync } from 'node:fs';

const root = new URL('..', import.meta.url);
cpSync(new URL('src/brokers/redis/lua/', root), new URL('dist/brokers/redis/lua/', root), {
  recursive: true,
});
cpSync(new URL('src/server/demo/', root), new URL('dist/server/demo/', root), { recursive: true });
cpSync(new URL('src/server/admin/page/', root), new URL('dist/server/admin/page/', root), {
  recursive: true,
});
