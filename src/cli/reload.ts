import { readFile } from 'node:fs/promises';
import { PROCESS_NAME_PREFIX } from '../server/index.ts';
import { commandConfig } from './command-config.ts';

const USAGE = `Usage: pushwire reload [--pid-file PATH | --config FILE]

Replaces the workers of a running \`pushwire serve --workers N\` one at a time, with the code
and configuration on disk now: it sends SIGHUP to the primary whose process id serve wrote to
its pid file. Give the same --pid-file (or PUSHWIRE_PID_FILE, or --config) that serve took.

Examples:
  pushwire serve --workers auto --pid-file /run/pushwire.pid
  pushwire reload --pid-file /run/pushwire.pid       # same as: kill -HUP "$(cat /run/pushwire.pid)"`;

/** `pushwire reload`: signals a running primary to replace its workers. */
export async function runReload(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const config = commandConfig('reload', argv);
  if (config === 2) return 2;
  if (config.pidFile === null) {
    console.error(
      'pushwire reload: no pid file: give --pid-file, the one `pushwire serve --workers` was started with',
    );
    return 2;
  }
  let pid: number;
  try {
    pid = Number((await readFile(config.pidFile, 'utf8')).trim());
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'it does not exist: is serve running with --workers?' : String(error);
    console.error(`pushwire reload: can't read the pid file ${config.pidFile}: ${why}`);
    return 1;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    console.error(`pushwire reload: ${config.pidFile} holds no process id`);
    return 1;
  }
  const name = await processName(pid);
  if (name !== null && !name.startsWith(PROCESS_NAME_PREFIX)) {
    console.error(
      `pushwire reload: process ${pid} (from ${config.pidFile}) is "${name}", not a pushwire serve: the pid file is stale (a serve that crashed?) and was not signalled`,
    );
    return 1;
  }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const why =
      code === 'ESRCH' ? 'no such process (a pid file left by a serve that crashed?)' : String(error);
    console.error(`pushwire reload: can't signal process ${pid}: ${why}`);
    return 1;
  }
  console.log(`pushwire reload: sent SIGHUP to ${pid}: its workers are replaced one at a time`);
  return 0;
}

/** The name Linux gives the process (/proc/PID/comm); null where that can't be read (no /proc, gone). */
async function processName(pid: number): Promise<string | null> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
  } catch {
    return null;
  }
}
