// Bundles the browser client: dist/pushwire.js (ESM) and dist/pushwire.global.js (a classic
// script that defines a global `Pushwire`), both minified, and prints their gzipped sizes;
// and dist/transport-names.js, the transport names for the demo.
// `pushwire serve` serves dist/pushwire.js at /pushwire.js. The ESM bundle must stay within
// the size budget below: the build fails past it. The entry is src/client/index.ts, never the
// Node entry (src/client/node.ts, which brings ws and eventsource): with platform 'browser' a
// Node built-in reached from index.ts fails this build.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const entry = join(root, 'src/client/index.ts');
const BUDGET_GZIP_BYTES = 9 * 1024;

/**
 * The server's default error messages stay out of the browser bundle: a client shows the
 * message the server sent, and the table of texts was a quarter of the bundle.
 */
const noServerMessages = {
  name: 'no-server-messages',
  setup(build) {
    build.onResolve({ filter: /[\\/]error-messages\.ts$/ }, (args) => ({
      path: args.path,
      namespace: 'stub',
    }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export const ERROR_MESSAGES = {};',
      loader: 'js',
    }));
  },
};

/**
 * Nor does the server's error table: what the client needs of errors.ts is a PushwireError
 * with a `code` (a malformed channel or cursor) and the rule for close codes. The table
 * behind PushwireError's `status` and `closeCode` getters was a sixth of the bundle. A new
 * import of errors.ts that reaches the client fails this build, loudly.
 */
const noErrorTable = {
  name: 'no-error-table',
  setup(build) {
    build.onResolve({ filter: /[\\/]errors\.ts$/ }, (args) =>
      /[\\/]protocol$/.test(args.resolveDir) ? { path: args.path, namespace: 'browser-errors' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'browser-errors' }, () => ({
      contents: `export class PushwireError extends Error {
  constructor(code, message = code) { super(message); this.name = 'PushwireError'; this.code = code; }
}
export const asPushwireError = (error) => error;
export const closeCodeMeansReconnect = (code) => code < 4500 || code >= 5000;`,
      loader: 'js',
    }));
  },
};

const common = {
  plugins: [noServerMessages, noErrorTable],
  entryPoints: [entry],
  bundle: true,
  minify: true,
  platform: 'browser',
  target: 'es2022',
  legalComments: 'none',
  logLevel: 'warning',
};
const outputs = [
  { ...common, format: 'esm', outfile: join(root, 'dist/pushwire.js') },
  // The IIFE's namespace object is `{ Pushwire }`; unwrap it so the global is the class itself.
  {
    ...common,
    format: 'iife',
    globalName: '__pushwire',
    footer: { js: 'window.Pushwire=__pushwire.Pushwire;' },
    outfile: join(root, 'dist/pushwire.global.js'),
  },
];

// The transport names and aliases, for the demo page (plain JavaScript, no build step), so
// that it accepts exactly what the server and the SDK accept.
outputs.push({
  ...common,
  entryPoints: [join(root, 'src/protocol/transport-names.ts')],
  format: 'esm',
  outfile: join(root, 'dist/transport-names.js'),
});

let overBudget = false;
for (const options of outputs) {
  await build(options);
  const bytes = readFileSync(options.outfile);
  const gzipped = gzipSync(bytes, { level: 9 }).length;
  const name = options.outfile.slice(root.length);
  console.log(`${name}: ${bytes.length} bytes minified, ${gzipped} bytes gzipped (level 9)`);
  if (options.format === 'esm' && gzipped > BUDGET_GZIP_BYTES) overBudget = true;
}
if (overBudget) {
  console.error(`dist/pushwire.js is over its budget of ${BUDGET_GZIP_BYTES} bytes gzipped`);
  process.exit(1);
}
