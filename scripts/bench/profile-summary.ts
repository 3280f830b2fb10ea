// Where a process's CPU went, from the V8 CPU profiles that `npm run bench -- --cpu-prof DIR` collects.
//
//   npx node scripts/bench/profile-summary.ts DIR/credits-oncely/api [--top 25]
//
// Reads every *.cpuprofile under the folder, keeps only the samples inside the measured phase when a
// window.json (written by the bench) sits in the folder or its parent, and prints self time by package or
// source area and by function. (idle) is time the process had nothing to do.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Groups a script URL: a package under node_modules, a folder of src/, node's own internals, or V8's pseudo-frames. */
function area(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node:*';
  const src = /\/(src\/[^/]+)\//.exec(url);
  if (src) return src[1]!;
  return path.basename(url);
}

function profilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? profilesUnder(path.join(dir, e.name)) : e.name.endsWith('.cpuprofile') ? [path.join(dir, e.name)] : [],
  );
}

function windowFor(dir: string): { fromUs: number; toUs: number } | undefined {
  for (const candidate of [path.join(dir, 'window.json'), path.join(dir, '..', 'window.json')]) {
    if (existsSync(candidate)) return JSON.parse(readFileSync(candidate, 'utf8')) as { fromUs: number; toUs: number };
  }
  return undefined;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
const dir = positionals[0];
if (!dir) {
  process.stderr.write('usage: npx node scripts/bench/profile-summary.ts DIR [--top N]\n');
  process.exit(2);
}
const top = Number(values.top);
const window = windowFor(dir);
const byArea = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
let idle = 0;
for (const file of profilesUnder(dir)) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    const node = nodes.get(profile.samples[i]!)!;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += delta;
      continue;
    }
    total += delta;
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + delta);
    const key = `${functionName || '(anonymous)'} ${url ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|scripts)\//, '$1/')}:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + delta);
  }
}
const ms = (us: number) => (us / 1000).toFixed(0).padStart(7);
const pct = (us: number) => `${((us / Math.max(1, total)) * 100).toFixed(1).padStart(5)}%`;
process.stdout.write(
  `${dir}: ${ms(total).trim()} ms on CPU, ${ms(idle).trim()} ms idle${window ? ' (measured phase only)' : ' (whole run: no window.json)'}\n\nself time by area\n`,
);
for (const [k, v] of [...byArea].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(v)} ms ${pct(v)}  ${k}\n`);
process.stdout.write('\nself time by function\n');
for (const [k, v] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${ms(v)} ms ${pct(v)}  ${k}\n`);
