#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { runBenchCommand } from './bench.ts';
import { runPublish } from './publish.ts';
import { runServe } from './serve.ts';
import { runSubscribe } from './subscribe.ts';

const USAGE = `Usage: pushwire <command> [options]

Commands:
  serve                     run the server (pushwire serve --help for every option)
  publish <channel> <json>  publish a message through the HTTP API
  subscribe <channel>...    print every message of the channels, one JSON per line
  bench                     run the benchmarks (pushwire bench --help)

Options:
  -h, --help     show this help
  -v, --version  print the version`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'publish':
      return runPublish(rest);
    case 'subscribe':
      return runSubscribe(rest);
    case 'bench':
      return runBenchCommand(rest);
    case '-v':
    case '--version':
      console.log(version());
      return 0;
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`pushwire: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // serve and subscribe keep running; the others end here.
    if (code !== -1) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`pushwire: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
