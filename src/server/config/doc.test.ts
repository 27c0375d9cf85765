import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { renderConfigDoc } from './doc.ts';
import { loadConfig, resolveChannelOptions } from './index.ts';
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

  it('shows examples that load', () => {
    const doc = renderConfigDoc();
    const block = (lang: string): string => doc.split(`\`\`\`${lang}\n`)[1]!.split('```')[0]!;
    const dir = mkdtempSync(join(tmpdir(), 'pushwire-doc-'));
    try {
      writeFileSync(join(dir, 'pushwire.yaml'), block('yaml'));
      writeFileSync(join(dir, 'pushwire.json'), block('json'));
      const yaml = loadConfig({ argv: ['--config', 'pushwire.yaml'], env: {}, cwd: dir });
      assert.equal(resolveChannelOptions(yaml, 'game:lobby').historyTtlMs, 60_000);
      assert.equal(resolveChannelOptions(yaml, 'audit:x').historyTtlMs, null);
      const json = loadConfig({ argv: ['--config', 'pushwire.json'], env: {}, cwd: dir });
      assert.equal(resolveChannelOptions(json, 'game:lobby').clientPublish, true);
      const envJson = /PUSHWIRE_NAMESPACES='([^']+)'/.exec(block('sh'))![1]!;
      const env = loadConfig({ env: { PUSHWIRE_NAMESPACES: envJson }, cwd: dir });
      assert.equal(resolveChannelOptions(env, 'game:x').historyTtlMs, 60_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
