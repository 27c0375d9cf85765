// Writes docs/configuration.md from the option table (src/server/config/options.ts).
// Usage: node --import tsx scripts/gen-config-doc.ts
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderConfigDoc } from '../src/server/config/doc.ts';

const target = resolve(import.meta.dirname, '..', 'docs', 'configuration.md');
writeFileSync(target, renderConfigDoc());
console.log('wrote docs/configuration.md');
