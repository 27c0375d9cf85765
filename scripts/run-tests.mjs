// Runs every *.test.ts under src/ (unit tests beside their modules), test/ (real processes) and
// packages/ (the workspace packages) with Node's own runner. Node 20's runner takes no glob
// patterns, so the files are listed here. `pushwire` imports resolve to the sources, as in the
// type-check (tsconfig customConditions).
// Usage: node scripts/run-tests.mjs [substring ...]   (only files whose path contains one)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);

function walk(dir) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') found.push(...walk(path));
    } else if (entry.name.endsWith('.test.ts')) found.push(relative(root, path));
  }
  return found;
}

const files = ['src', 'test', 'packages']
  .flatMap((dir) => walk(join(root, dir)))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// Two files at a time: the suites start real servers, proxies and browsers on a 2-core machine.
const concurrency = process.env.PUSHWIRE_TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  [
    '--conditions=@pushwire/source',
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
