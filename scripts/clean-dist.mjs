// Empties dist/ before a build: tsc never deletes the output of a source that is gone, and
// `files` ships all of dist/, so a stale module would reach the published package.
import { rmSync } from 'node:fs';

rmSync(new URL('../dist/', import.meta.url), { recursive: true, force: true });
