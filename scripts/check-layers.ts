// Fails when an import points the wrong way between the layers of DESIGN.md, or reaches into
// another layer past its index.ts; and when the published package (src/) and the workspace
// packages (packages/*, never published) reach into each other other than through the
// `pushwire` package's exports. Runs as part of `npm run lint`.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const src = join(root, 'src');
const packages = join(root, 'packages');

/** Which layers each layer may import (protocol is allowed everywhere). */
const ALLOWED: Record<string, readonly string[]> = {
  protocol: [],
  brokers: ['protocol'],
  core: ['protocol', 'brokers'],
  transports: ['protocol', 'core'],
  server: ['protocol', 'core', 'brokers', 'transports'],
  client: ['protocol'],
  cli: ['protocol', 'server', 'client'],
};
/** Layers that ship to browsers: no node:* imports. */
const BROWSER_SAFE = new Set(['protocol', 'client']);
/**
 * The SDK's Node entry and what only it imports: `pushwire/client` under the `node` export
 * condition, never in the browser bundle (built from client/index.ts), so node:* is theirs.
 */
const NODE_ENTRY = new Set([join('client', 'node.ts'), join('client', 'node-get.ts')]);
/** core may only take types from brokers. */
const TYPES_ONLY: Record<string, readonly string[]> = { core: ['brokers'] };

/** The workspace packages' scope: none of them ships, so the published package can't import one. */
const WORKSPACE_SCOPE = '@pushwire/';

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : walk(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const IMPORT =
  /^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;

function importsOf(file: string): { spec: string; typeOnly: boolean }[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((match) => ({
    spec: match[3] ?? match[4]!,
    typeOnly: Boolean(match[2]),
  }));
}

const problems: string[] = [];

for (const file of walk(src)) {
  const rel = relative(src, file);
  const layer = rel.includes(sep) ? rel.split(sep)[0]! : null;
  for (const { spec, typeOnly } of importsOf(file)) {
    const where = `${relative(root, file)}: import '${spec}'`;
    if (spec.startsWith(WORKSPACE_SCOPE)) {
      problems.push(`${where}: ${spec} is a workspace package and is not published with src/`);
    }
    if (layer && BROWSER_SAFE.has(layer) && spec.startsWith('node:') && !NODE_ENTRY.has(rel)) {
      problems.push(`${where}: ${layer}/ ships to browsers and must not import node:*`);
    }
    if (!spec.startsWith('.') || !layer) continue;
    const target = relative(src, resolve(dirname(file), spec));
    if (NODE_ENTRY.has(target) && !NODE_ENTRY.has(rel)) {
      problems.push(`${where}: only the Node entry imports ${target}, or it reaches the browser bundle`);
    }
    const targetLayer = target.split(sep)[0]!;
    if (targetLayer === layer) continue;
    if (!(ALLOWED[layer] ?? []).includes(targetLayer)) {
      problems.push(`${where}: ${layer}/ may not import ${targetLayer}/`);
      continue;
    }
    const typesOnly = TYPES_ONLY[layer]?.includes(targetLayer);
    if (typesOnly && !typeOnly)
      problems.push(`${where}: ${layer}/ may import only types from ${targetLayer}/`);
    const viaIndex =
      target === join(targetLayer, 'index.ts') || (typesOnly && target === join(targetLayer, 'types.ts'));
    if (!viaIndex) problems.push(`${where}: import another layer through its index.ts`);
  }
}

// A workspace package uses Pushwire as a user would: through `pushwire` and its exports,
// never a relative path out of its own folder.
for (const name of readdirSync(packages)) {
  const home = join(packages, name);
  for (const file of walk(home)) {
    for (const { spec } of importsOf(file)) {
      if (!spec.startsWith('.')) continue;
      const target = relative(home, resolve(dirname(file), spec));
      if (target.startsWith('..')) {
        problems.push(`${relative(root, file)}: import '${spec}': import pushwire through its exports`);
      }
    }
  }
}

if (problems.length > 0) {
  console.error(`layer check: ${problems.length} wrong import(s)\n${problems.join('\n')}`);
  process.exit(1);
}
console.log('layer check: imports point down');
