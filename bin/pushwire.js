#!/usr/bin/env node
// The built CLI (npm ci builds it through the prepare script). In a checkout without a build,
// run the TypeScript sources through tsx when it is installed.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
