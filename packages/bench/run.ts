// `npm run bench [-- flags]`: the same runner as `pushwire bench` (see `--help`).
import { runBench } from './src/index.ts';

process.exitCode = await runBench(process.argv.slice(2));
