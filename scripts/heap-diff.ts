// Compares two V8 heap snapshots (.heapsnapshot, e.g. the ones `npm run soak -- --snapshot-at` writes):
// objects counted and their self size summed by constructor (node type and name), and the groups that grew
// the most from the first to the second. A snapshot is taken after a full GC, so what grows between two
// is what the process keeps, not garbage.
//
//   npx node scripts/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--top 30]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Group {
  count: number;
  size: number;
}

function groups(file: string): { byName: Map<string, Group>; total: Group } {
  const heap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = heap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = heap.snapshot.meta.node_types[0];
  const byName = new Map<string, Group>();
  const total = { count: 0, size: 0 };
  for (let i = 0; i < heap.nodes.length; i += width) {
    const type = types[heap.nodes[i + typeAt]!]!;
    const size = heap.nodes[i + sizeAt]!;
    // Strings and code are grouped by type alone (their "name" is their content); objects by constructor.
    const name = type === 'object' || type === 'closure' || type === 'native' ? `${type}:${heap.strings[heap.nodes[i + nameAt]!]}` : type;
    const group = byName.get(name) ?? { count: 0, size: 0 };
    group.count++;
    group.size += size;
    byName.set(name, group);
    total.count++;
    total.size += size;
  }
  return { byName, total };
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
if (positionals.length !== 2) {
  process.stderr.write('usage: npx node scripts/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--top N]\n');
  process.exit(2);
}
const before = groups(positionals[0]!);
const after = groups(positionals[1]!);
const kb = (n: number) => (n / 1024).toFixed(0);
process.stdout.write(
  `total: ${before.total.count} objects ${kb(before.total.size)} kB -> ${after.total.count} objects ${kb(after.total.size)} kB (${after.total.count - before.total.count} objects, ${kb(after.total.size - before.total.size)} kB)\n`,
);
const names = new Set([...before.byName.keys(), ...after.byName.keys()]);
const rows = [...names].map((name) => {
  const b = before.byName.get(name) ?? { count: 0, size: 0 };
  const a = after.byName.get(name) ?? { count: 0, size: 0 };
  return { name, b, a, grew: a.size - b.size, more: a.count - b.count };
});
const top = Number(values.top);
for (const [title, order] of [
  ['grew most in size', (x: (typeof rows)[number], y: (typeof rows)[number]) => y.grew - x.grew],
  ['grew most in count', (x: (typeof rows)[number], y: (typeof rows)[number]) => y.more - x.more],
] as const) {
  process.stdout.write(`\n${title}:\n      count before -> after        kB before -> after   constructor\n`);
  for (const row of [...rows].sort(order).slice(0, top)) {
    process.stdout.write(
      `${String(row.b.count).padStart(12)} -> ${String(row.a.count).padEnd(10)} ${kb(row.b.size).padStart(8)} -> ${kb(row.a.size).padEnd(8)}   ${row.name.slice(0, 100)}\n`,
    );
  }
}
