#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { closest } from '../server/index.ts';
import { UsageError } from './args.ts';
import { runBenchCommand } from './bench.ts';
import { runPublish } from './publish.ts';
import { runReload } from './reload.ts';
import { runServe } from './serve.ts';
import { runSubscribe } from './subscribe.ts';

const USAGE = `Usage: pushwire <command> [options]

Commands:
  serve                     run the server (pushwire serve --help for every option)
  reload                    replace the workers of a running serve --workers, one at a time
  publish <channel> <json>  publish a message through the HTTP API
  subscribe <channel>...    print every message of the channels, one JSON per line
  bench                     run the benchmarks (pushwire bench --help)

Options:
  -h, --help     show this help (pushwire <command> --help: the command's)
  -v, --version  print the version

Examples:
  pushwire serve                                   # port 8080; prints the API key
  pushwire subscribe chat:lobby                    # in a second terminal
  pushwire publish chat:lobby '{"text":"hi"}' --api-key KEY`;

const COMMANDS = ['serve', 'reload', 'publish', 'subscribe', 'bench', 'help'] as const;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The exit code, or -1 while the command runs on (serve) and ends the process itself. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'reload':
      return runReload(rest);
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
      (command === undefined ? console.error : console.log)(USAGE);
      return command === undefined ? 2 : 0;
    default: {
      const near = closest(
        command,
        COMMANDS.map((name) => [name, name] as const),
      );
      const guess = near === undefined ? '' : ` (did you mean ${near}?)`;
      console.error(`pushwire: unknown command "${command}"${guess}\n\n${USAGE}`);
      return 2;
    }
  }
}

const [command] = process.argv.slice(2);
main(process.argv.slice(2)).then(
  (code) => {
    if (code === -1) return;
    process.exitCode = code;
    // A finished subscribe's SDK, or the Redis client of a serve that could not start, may
    // still hold sockets and timers for seconds: nothing of theirs is worth waiting for.
    if (command === 'subscribe' || command === 'serve') process.exit(code);
  },
  (error: unknown) => {
    const where =
      command && (COMMANDS as readonly string[]).includes(command) ? `pushwire ${command}` : 'pushwire';
    if (error instanceof UsageError) {
      console.error(`${where}: ${error.message}\n(${where} --help shows how to call it)`);
      process.exitCode = 2;
      return;
    }
    console.error(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
