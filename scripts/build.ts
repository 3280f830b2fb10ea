// `npm run build`: compiles src/ to dist/ (tsconfig.build.json) for the published package. TypeScript's
// rewriteRelativeImportExtensions turns `./x.ts` into `./x.js` in the JavaScript it emits, but leaves the
// specifiers in the declarations as written; a consumer's TypeScript resolves `./x.js` to `x.d.ts`, so the
// declarations get the same rewrite here.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = path.join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const RELATIVE_TS = /((?:from\s+|import\(\s*)['"])(\.{1,2}\/[^'"]+)\.ts(['"])/g;
function declarations(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? declarations(full) : full.endsWith('.d.ts') ? [full] : [];
  });
}
let rewritten = 0;
for (const file of declarations(dist)) {
  const text = readFileSync(file, 'utf8');
  const next = text.replace(RELATIVE_TS, '$1$2.js$3');
  if (next !== text) {
    writeFileSync(file, next);
    rewritten++;
  }
}
process.stdout.write(`oncely: built dist/ (${rewritten} declaration files had their relative imports rewritten to .js)\n`);
