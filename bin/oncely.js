#!/usr/bin/env node
// Launches the oncely CLI (src/cli/main.ts, or dist/cli/main.js in the installed package) with a Node.js that runs TypeScript directly: the Node 24 of the
// `node` devDependency when there is one (a checkout: `npx oncely` runs this file with whatever node is on
// PATH, which may be too old to strip types), else the running Node if it is 23.6 or newer.
// Plain JavaScript on purpose: it must start on any Node npm can run.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// A checkout runs the TypeScript sources; the installed package (npm pack) ships them compiled to dist/.
const source = path.join(root, 'src', 'cli', 'main.ts');
const compiled = path.join(root, 'dist', 'cli', 'main.js');
const entry = existsSync(source) ? source : compiled;

function supportsTypeStripping(version) {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 6);
}

function findNode() {
  // The project's own Node first, then one hoisted next to oncely when it is installed as a dependency.
  const candidates = [
    path.join(root, 'node_modules', 'node', 'bin', 'node'),
    path.join(root, 'node_modules', '.bin', 'node'),
    path.join(root, '..', 'node', 'bin', 'node'),
    path.join(root, '..', '.bin', 'node'),
  ];
  const found = candidates.find((candidate) => existsSync(candidate));
  if (found) return found;
  if (supportsTypeStripping(process.versions.node)) return process.execPath;
  return undefined;
}

const node = entry === compiled ? process.execPath : findNode();
if (!node) {
  process.stderr.write(`oncely: needs Node.js 23.6 or newer to run (this is ${process.version}); run npm ci to install the project's Node 24\n`);
  process.exit(1);
}

const child = spawn(node, [entry, ...process.argv.slice(2)], { stdio: 'inherit' });
// Ctrl-C reaches the child through the terminal's process group; other signals are passed on by hand.
for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
process.on('SIGINT', () => {});
child.on('error', (err) => {
  process.stderr.write(`oncely: cannot start ${node}: ${err.message}\n`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) {
    // Die of the same signal, so the caller sees what happened to the CLI.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else process.exit(code ?? 1);
});
