// The core must stay importable by clients and the auditor alone: no I/O, no environment, no outside code.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE = join(import.meta.dirname, '../../src/core');
const ALLOWED_PACKAGES = new Set(['node:crypto', 'canonicalize']);
// The browser primitives (substituted for crypto/primitives.ts by the dashboard's bundler) use these instead.
const BROWSER_PRIMITIVES = join(CORE, 'crypto/primitives.browser.ts');
const BROWSER_PACKAGES = new Set(['node:crypto', '@noble/hashes/sha2.js', '@noble/curves/ed25519.js']);

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
        const allowed = file === BROWSER_PRIMITIVES ? BROWSER_PACKAGES : ALLOWED_PACKAGES;
        expect(allowed.has(s), `${s} is not allowed in the core`).toBe(true);
      }
    }
    expect(text).not.toMatch(/\bprocess\.|\brequire\(|\bfetch\(/);
  });

  it('reaches node:crypto and Buffer through crypto/primitives.ts only (types aside), which the browser build replaces', () => {
    const browserSafe = files.filter((f) => !f.endsWith('crypto/primitives.ts') && !f.endsWith('witness/cosignature.ts'));
    for (const file of browserSafe) {
      const text = readFileSync(file, 'utf8');
      expect(text, relative(CORE, file)).not.toMatch(/^import (?!type )[^;]*'node:crypto'/m);
    }
    // At load time too: a module-level Buffer would break the bundle before any call.
    for (const file of files.filter((f) => !f.endsWith('crypto/primitives.ts'))) {
      expect(readFileSync(file, 'utf8'), relative(CORE, file)).not.toMatch(/^(?:export )?const \w+ = Buffer\./m);
    }
  });
});
