import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { renderConfigDoc } from './doc.ts';
import { OPTIONS } from './options.ts';

const DOC = resolve(import.meta.dirname, '..', '..', '..', 'docs', 'configuration.md');

describe('docs/configuration.md', () => {
  it('is what scripts/gen-config-doc.ts makes from the option table', () => {
    assert.equal(
      readFileSync(DOC, 'utf8'),
      renderConfigDoc(),
      'docs/configuration.md is out of date: run `node --import tsx scripts/gen-config-doc.ts`',
    );
  });

  it('has a row for every option', () => {
    const doc = renderConfigDoc();
    for (const spec of OPTIONS) assert.match(doc, new RegExp(`\\| \`${spec.env}\` \\| \`${spec.key}\` \\|`));
  });
});
