// `npm run check:snippets`: the ```ts code blocks of README.md and docs/library.md, type-checked against the
// built and packed package, as a user's application would see it (its own node_modules, oncely from the
// tarball, strict TypeScript). Each block is a module of its own in a folder per document; a block whose
// fence says `file=NAME.ts` is written under that name, so a later block of the same document can import it
// (`import { giftCards } from './gift-cards.ts'`). A block that is only a fragment is skipped when its first
// line is a comment starting `// fragment:` (visible on the page, with the reason after it); README.md's
// blocks may not be skipped. An error names the document and line: `docs/library.md:42:7 error TS2304 ...`.
//
//   npx node scripts/check-docs-snippets.ts                      # builds and packs oncely first
//   npx node scripts/check-docs-snippets.ts --tarball oncely-0.2.0.tgz
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The documents whose blocks are checked, and whether a block of theirs may be marked a fragment. */
const DOCUMENTS = [
  { file: 'README.md', fragmentsAllowed: false },
  { file: 'docs/library.md', fragmentsAllowed: true },
];
const FENCE = /^```(ts|typescript)\b(.*)$/;
const FRAGMENT = /^\s*\/\/ fragment:/;

export interface Block {
  document: string;
  /** The 1-based line of the opening fence. */
  fenceLine: number;
  /** The file name in the document's folder. */
  file: string;
  code: string;
  fragment: boolean;
}

/** The ```ts blocks of one markdown text. */
export function blocksOf(document: string, text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = FENCE.exec(lines[i] ?? '');
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] ?? '').startsWith('```'); i++) body.push(lines[i] ?? '');
    if (i >= lines.length) throw new Error(`${document}:${start + 1}: the code block is not closed`);
    const named = /\bfile=([\w.-]+\.ts)\b/.exec(fence[2] ?? '');
    blocks.push({
      document,
      fenceLine: start + 1,
      file: named?.[1] ?? `block-line-${start + 1}.ts`,
      code: body.join('\n'),
      fragment: FRAGMENT.test(body[0] ?? ''),
    });
  }
  return blocks;
}

const slug = (document: string) => document.replace(/[^\w]+/g, '_');

function main(): number {
  const { values } = parseArgs({ options: { tarball: { type: 'string' } } });
  const work = mkdtempSync(path.join(tmpdir(), 'oncely-snippets-'));
  try {
    let tarball = values.tarball ? path.resolve(values.tarball) : undefined;
    if (!tarball) {
      execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' });
      const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' });
      tarball = path.join(work, packed.trim().split('\n').at(-1) ?? '');
    }

    const app = path.join(work, 'app');
    mkdirSync(app);
    const problems: string[] = [];
    /** Maps a written file (relative to the app) back to its block. */
    const written = new Map<string, Block>();
    let checked = 0;
    for (const { file, fragmentsAllowed } of DOCUMENTS) {
      const blocks = blocksOf(file, readFileSync(path.join(root, file), 'utf8'));
      const dir = path.join(app, slug(file));
      mkdirSync(dir);
      for (const block of blocks) {
        if (block.fragment) {
          if (!fragmentsAllowed) problems.push(`${file}:${block.fenceLine}: a block of ${file} may not be marked "// fragment:": it must type-check`);
          continue;
        }
        const relative = path.join(slug(file), block.file);
        if (written.has(relative)) problems.push(`${file}:${block.fenceLine}: a second block named ${block.file}`);
        // `export {}` makes every block a module, so top-level await and imports work in all of them.
        writeFileSync(path.join(app, relative), `${block.code}\nexport {};\n`);
        written.set(relative, block);
        checked++;
      }
    }
    if (problems.length > 0) return report(problems);

    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const dev = manifest.devDependencies;
    const pick = (...names: string[]) => Object.fromEntries(names.map((name) => [name, dev[name] ?? 'latest']));
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'oncely-docs-snippets',
          private: true,
          type: 'module',
          dependencies: { oncely: `file:${tarball}`, ...pick('zod', 'drizzle-orm', 'pg', 'hono', '@hono/node-server') },
          devDependencies: pick('@types/node', '@types/pg', 'typescript'),
        },
        null,
        2,
      ),
    );
    writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024',
          lib: ['es2024'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          types: ['node'],
          strict: true,
          noUncheckedIndexedAccess: true,
          verbatimModuleSyntax: true,
          allowImportingTsExtensions: true,
          noEmit: true,
          skipLibCheck: true,
        },
        include: ['**/*.ts'],
        exclude: ['node_modules'],
      }),
    );
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: app, stdio: 'inherit' });

    const tsc = spawnSync(process.execPath, [path.join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '--pretty', 'false', '-p', app], { cwd: app, encoding: 'utf8' });
    const output = `${tsc.stdout}${tsc.stderr}`.trim();
    if (tsc.status === 0) {
      process.stdout.write(`docs snippets: ${checked} blocks of ${DOCUMENTS.map((d) => d.file).join(' and ')} type-check against ${path.basename(tarball)}\n`);
      return 0;
    }
    // `gift_md/block-line-12.ts(3,7): error TS2304: ...` -> `docs/library.md:14:7 error TS2304: ...`
    const lines = output.split('\n').map((line) => {
      const m = /^(.+?\.ts)\((\d+),(\d+)\): (.*)$/.exec(line);
      const block = m ? written.get(m[1] ?? '') : undefined;
      return m && block ? `${block.document}:${block.fenceLine + Number(m[2])}:${m[3]} ${m[4]}` : line;
    });
    return report(lines);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function report(problems: string[]): number {
  process.stderr.write(`docs snippets: these code blocks do not type-check against the packed package:\n${problems.join('\n')}\n`);
  return 1;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main();
