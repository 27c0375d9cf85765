import { defaultText, flagUsage } from './describe.ts';
import { CONFIG_FILE_OPTION, OPTIONS } from './options.ts';

const COLUMN = 36;

/** The options part of `pushwire serve --help`, generated from the option table. */
export function configHelp(): string {
  const lines = ['Options (flags > PUSHWIRE_* environment variables > config file > defaults):'];
  const entry = (usage: string, doc: string, more: string): void => {
    const head = `  ${usage}`;
    lines.push(
      head.length < COLUMN ? `${head.padEnd(COLUMN)}${doc}` : `${head}\n${' '.repeat(COLUMN)}${doc}`,
    );
    lines.push(`${' '.repeat(COLUMN)}${more}`);
  };
  entry(`--${CONFIG_FILE_OPTION.flag} <path>`, CONFIG_FILE_OPTION.doc, `env ${CONFIG_FILE_OPTION.env}`);
  for (const spec of OPTIONS) {
    if (spec.flag === null) continue;
    entry(flagUsage(spec), spec.doc, `default ${defaultText(spec)}; env ${spec.env}`);
  }
  lines.push(
    `${'  -h, --help'.padEnd(COLUMN)}show this help`,
    '',
    'Durations: milliseconds (15000) or a number with a unit: 500ms, 15s, 2m, 1h.',
    'Sizes: bytes (65536) or a number with a unit: 64kb, 1mb, 1gb (1kb = 1024 bytes).',
    'On/off options: --demo or --no-demo as flags; true/false, yes/no, on/off or 1/0 elsewhere.',
    'The config file takes the same options by camelCase key (port, heartbeatInterval, ...),',
    'and namespaces: { game: { clientPublish: true, historySize: 50, historyTtl: 1m, presence: true } }',
    "(also as JSON in PUSHWIRE_NAMESPACES). Channels game:<name> take namespace game's options.",
  );
  return lines.join('\n');
}
