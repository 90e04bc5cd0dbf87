// The core must stay importable by clients and the auditor alone: no I/O, no environment, no outside code.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE = join(import.meta.dirname, '../../src/core');
const ALLOWED_PACKAGES = new Set(['node:crypto', 'canonicalize']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function importsOf(text: string): string[] {
  return [
    ...text.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'/gms),
    ...text.matchAll(/^import\s+'([^']+)'/gm),
    ...text.matchAll(/\bimport\(\s*'([^']+)'/g),
  ].map((m) => m[1]!);
}

describe('src/core is pure', () => {
  const files = sources(CORE);

  it('has sources, and the import pattern finds their imports', () => {
    expect(files.length).toBeGreaterThan(10);
    expect(importsOf(readFileSync(join(CORE, 'canonical-json.ts'), 'utf8'))).toContain('canonicalize');
    expect(importsOf("import fs from 'node:fs';\nexport { x } from './y.js';")).toEqual(['node:fs', './y.js']);
  });

  it.each(files.map((f) => [relative(CORE, f), f]))('%s imports only node:crypto, canonicalize and the core', (_, file) => {
    const text = readFileSync(file, 'utf8');
    const specifiers = importsOf(text);
    for (const s of specifiers) {
      if (s.startsWith('.')) {
        expect(join(file, '..', s).startsWith(CORE), `${s} leaves src/core`).toBe(true);
      } else {
        expect(ALLOWED_PACKAGES.has(s), `${s} is not allowed in the core`).toBe(true);
      }
    }
    expect(text).not.toMatch(/\bprocess\.|\brequire\(|\bfetch\(/);
  });
});
