// The entry point for plain Node, which is how the built `pushwire` CLI loads the harness. The
// harness is TypeScript run without a build, so it goes through tsx's loader, scoped to this
// import rather than registered for the whole process.
import { tsImport } from 'tsx/esm/api';

const harness = await tsImport('./src/index.ts', import.meta.url);

/** @type {typeof import('./src/index.ts').runBench} */
export const runBench = harness.runBench;
