// scripts/check-docs-snippets.ts finds the ```ts blocks of a page, names them by file= or by line, and skips
// only a block whose first line is the visible `// fragment:` marker.
import { describe, expect, it } from 'vitest';
import { blocksOf } from '../../scripts/check-docs-snippets.ts';

const PAGE = [
  '# A page',
  '```ts file=gift-cards.ts',
  "export const name = 'gift cards';",
  '```',
  'text',
  '```ts',
  "import { name } from './gift-cards.ts';",
  'console.log(name);',
  '```',
  '```sh',
  'npm test',
  '```',
  '```typescript',
  '// fragment: a lone expression',
  'oncely.submit(tx, commands);',
  '```',
].join('\n');

describe('docs snippets', () => {
  it('finds every ts block with its fence line, its file name and whether it is a fragment', () => {
    expect(blocksOf('docs/page.md', PAGE)).toEqual([
      { document: 'docs/page.md', fenceLine: 2, file: 'gift-cards.ts', code: "export const name = 'gift cards';", fragment: false },
      { document: 'docs/page.md', fenceLine: 6, file: 'block-line-6.ts', code: "import { name } from './gift-cards.ts';\nconsole.log(name);", fragment: false },
      { document: 'docs/page.md', fenceLine: 13, file: 'block-line-13.ts', code: '// fragment: a lone expression\noncely.submit(tx, commands);', fragment: true },
    ]);
  });

  it('refuses a block that is never closed, naming its line', () => {
    expect(() => blocksOf('README.md', 'a\n```ts\nconst x = 1;\n')).toThrow('README.md:2: the code block is not closed');
  });
});
