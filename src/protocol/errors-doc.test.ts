import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ERROR_CODES } from './errors.ts';

// docs/protocol.md is the contract clients are written against, and errors.ts is what the
// server does: one table, held equal here, so neither can change without the other.

const PROTOCOL_DOC = new URL('../../docs/protocol.md', import.meta.url);

interface Row {
  readonly code: string;
  readonly status: number | null;
  readonly closeCode: number | null;
}

/** The rows of the markdown table under `## Errors`, read by its header names. */
function documentedRows(markdown: string): Row[] {
  const section = markdown.split(/^## /m).find((part) => part.startsWith('Errors\n'));
  assert.ok(section, 'docs/protocol.md has an "## Errors" section');
  const lines = section.split('\n').filter((line) => line.startsWith('|'));
  const cells = (line: string) =>
    line
      .slice(1, line.endsWith('|') ? -1 : undefined)
      .split('|')
      .map((cell) => cell.trim());
  const header = cells(lines[0] ?? '');
  const column = (name: string) => {
    const index = header.indexOf(name);
    assert.ok(index !== -1, `the errors table has a "${name}" column: ${header.join(' | ')}`);
    return index;
  };
  const [code, http, close] = [column('code'), column('HTTP'), column('WS close')];
  // lines[1] is the |---| separator.
  return lines.slice(2).map((line) => {
    const row = cells(line);
    return {
      code: (row[code] ?? '').replace(/^`|`$/g, ''),
      status: numberOrNull(row[http] ?? ''),
      closeCode: numberOrNull(row[close] ?? ''),
    };
  });
}

/** A number, or null for "—" (the code has none); anything else is a typo worth failing on. */
function numberOrNull(cell: string): number | null {
  if (cell === '—') return null;
  assert.match(cell, /^\d+$/, `a number or "—", not "${cell}"`);
  return Number(cell);
}

test('the errors table of docs/protocol.md is ERROR_CODES: same codes, in order, same status and close code', () => {
  const documented = documentedRows(readFileSync(PROTOCOL_DOC, 'utf8'));
  const table: Row[] = Object.entries(ERROR_CODES).map(([code, row]) => ({
    code,
    status: row.status,
    closeCode: row.closeCode,
  }));
  assert.deepEqual(documented, table);
});
