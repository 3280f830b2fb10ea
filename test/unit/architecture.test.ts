// Dependencies point inwards (STYLE.md): core knows nothing of the rest; http and queue never import each
// other; only system.ts and the entry points know every folder; only src/queue imports pg-boss.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => {
    const spec = m[1]!;
    return spec.startsWith('.') ? path.relative(SRC, path.resolve(path.dirname(file), spec)) : `pkg:${spec}`;
  });
}

const all = files(SRC).map((file) => ({ file: path.relative(SRC, file), imports: importsOf(file) }));

describe('architecture', () => {
  it('keeps core pure: it imports only zod and itself', () => {
    for (const { file, imports } of all.filter((f) => f.file.startsWith('core/'))) {
      for (const target of imports) expect(target === 'pkg:zod' || target.startsWith('core/') || target.startsWith('pkg:node:'), `${file} -> ${target}`).toBe(true);
    }
  });

  it('lets only src/queue import pg-boss', () => {
    const offenders = all.filter((f) => !f.file.startsWith('queue/') && f.imports.some((t) => t.startsWith('pkg:pg-boss')));
    expect(offenders.map((f) => f.file)).toEqual([]);
  });

  it('keeps http and queue apart', () => {
    const crossing = all.filter(
      (f) => (f.file.startsWith('http/') && f.imports.some((t) => t.startsWith('queue/'))) || (f.file.startsWith('queue/') && f.imports.some((t) => t.startsWith('http/'))),
    );
    expect(crossing.map((f) => f.file)).toEqual([]);
  });

  it('keeps domain models pure: they import only core and other models', () => {
    for (const { file, imports } of all.filter((f) => /^domains\/[^/]+\/model\.ts$/.test(f.file))) {
      for (const target of imports) {
        expect(target.startsWith('core/') || target === 'pkg:zod' || /^domains\/[^/]+\/model\.ts$/.test(target), `${file} -> ${target}`).toBe(true);
      }
    }
  });

  it('reads process.env only in the entry points and config', () => {
    const readers = all.filter((f) => /process\.env\b/.test(readFileSync(path.join(SRC, f.file), 'utf8'))).map((f) => f.file);
    expect(readers.filter((f) => !f.startsWith('main/') && f !== 'config.ts')).toEqual([]);
  });
});
