/**
 * The four wire transports, named once for the server, the client SDK, the CLI, metrics, the
 * benchmark and the demo. Users may type the short aliases `ws` and `poll` wherever a
 * transport is named; everything else is refused with the list of valid names.
 */
export const TRANSPORT_NAMES = ['websocket', 'sse', 'longpoll', 'stream'] as const;

export type TransportName = (typeof TRANSPORT_NAMES)[number];

export const TRANSPORT_ALIASES: Readonly<Record<string, TransportName>> = Object.freeze({
  ws: 'websocket',
  poll: 'longpoll',
});

/** The transport a user-typed name means (case-insensitive, aliases allowed), or null. */
export function parseTransportName(text: string): TransportName | null {
  const name = text.trim().toLowerCase();
  if ((TRANSPORT_NAMES as readonly string[]).includes(name)) return name as TransportName;
  return Object.hasOwn(TRANSPORT_ALIASES, name) ? TRANSPORT_ALIASES[name]! : null;
}

/** One line naming every accepted name, for "unknown transport" messages. */
export function transportNamesHint(): string {
  const aliases = Object.entries(TRANSPORT_ALIASES).map(([alias, name]) => `${alias} (= ${name})`);
  return `${TRANSPORT_NAMES.join(', ')}, or ${aliases.join(', ')}`;
}
