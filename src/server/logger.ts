import { type DestinationStream, type Logger, pino } from 'pino';
import type { Config } from './config/index.ts';
import { prettyLine, wantsColor } from './log-pretty.ts';

/**
 * The server's logger, writing to stderr (stdout is for what a command prints: `serve`'s
 * banner). `logFormat` `auto` means pretty lines for a person at a terminal and JSON lines
 * for a log collector everywhere else.
 */
export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>): Logger {
  // Synchronous: a line logged just before the process exits is not lost.
  const stderr = pino.destination({ dest: 2, sync: true });
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stderr.isTTY);
  if (!pretty) return pino({ level: config.logLevel }, stderr);
  const color = wantsColor(process.stderr);
  const stream: DestinationStream = { write: (line: string) => stderr.write(prettyLine(line, color)) };
  return pino({ level: config.logLevel }, stream);
}
