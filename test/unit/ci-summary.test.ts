// .ci/run's closing line cannot hide a failure: a failed step counts as failed whatever its report says, a
// vitest file whose beforeAll threw or that failed to import counts although its tests read as skipped, a
// missing report counts, and the count never reads a report from an earlier run (.ci/run removes them first).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
let dir: string;

/** Runs the real summary script over a steps file; returns its output and exit code. */
async function summary(lines: string[]): Promise<{ text: string; code: number }> {
  const steps = path.join(dir, `steps-${Math.random().toString(36).slice(2)}`);
  await writeFile(steps, lines.join('\n') + '\n');
  return run(process.execPath, [path.join(ROOT, '.ci/summary.mjs'), steps]).then(
    ({ stdout }) => ({ text: stdout, code: 0 }),
    (err: { stdout: string; code: number }) => ({ text: err.stdout, code: err.code }),
  );
}

/** A real vitest JSON report over planted files: one passing test, a file whose beforeAll throws, one that fails to import. */
let report: string;
let vitestExit = 0;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'oncely-ci-summary-'));
  await writeFile(path.join(dir, 'fine.test.js'), `it('passes', () => expect(1).toBe(1));\n`);
  await writeFile(
    path.join(dir, 'hook.test.js'),
    `beforeAll(() => { throw new Error('planted: the database did not start'); });\nit('never runs', () => expect(1).toBe(1));\n`,
  );
  await writeFile(path.join(dir, 'import.test.js'), `import './no-such-module.js';\nit('never runs', () => expect(1).toBe(1));\n`);
  // A config of its own (a plain object: nothing to resolve from the temporary folder), so the project's is not used.
  await writeFile(path.join(dir, 'vitest.config.mjs'), `export default { test: { globals: true, include: ['*.test.js'] } };\n`);
  report = path.join(dir, 'report.json');
  vitestExit = await run(path.join(ROOT, 'node_modules/.bin/vitest'), ['run', '--root', dir, '--reporter=json', `--outputFile.json=${report}`], { cwd: dir }).then(
    () => 0,
    (err: { code: number }) => err.code,
  );
}, 120_000);
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('.ci/summary.mjs', () => {
  it('counts a file whose beforeAll threw and a file that failed to import, though vitest counts no failed test', async () => {
    const json = JSON.parse(await readFile(report, 'utf8')) as { numFailedTests: number; numPassedTests: number };
    expect(vitestExit).not.toBe(0);
    // The defect the old closing line had: by numFailedTests alone this run failed nothing.
    expect(json.numFailedTests).toBe(0);
    const { text, code } = await summary([`npm test\t${vitestExit}\t${report}`]);
    expect(text.trim().split('\n').at(-1)).toBe('1 passed, 2 failed');
    expect(code).toBe(1);
  });

  it('counts every step, a failed one as failed, and a missing report as failed', async () => {
    const { text, code } = await summary([
      'typecheck\t0\t',
      'chaos smoke run\t1\t',
      `broker tests\t1\t${path.join(dir, 'oncely-ci-never-written.json')}`,
      'private clone\t0\t',
    ]);
    expect(text).toContain('chaos smoke run: FAILED (exit 1)');
    expect(text).toContain('no report at');
    expect(text.trim().split('\n').at(-1)).toBe('2 passed, 2 failed');
    expect(code).toBe(1);
  });

  it('counts a vitest run that exited non-zero with nothing failed in its report as one failure', async () => {
    const clean = path.join(dir, 'clean.json');
    await writeFile(clean, JSON.stringify({ numPassedTests: 3, numFailedTests: 0, testResults: [{ status: 'passed', assertionResults: [] }] }));
    expect((await summary([`npm test\t1\t${clean}`])).text.trim().split('\n').at(-1)).toBe('3 passed, 1 failed');
    expect(await summary([`npm test\t0\t${clean}`])).toEqual({ text: expect.stringMatching(/3 passed, 0 failed\n$/), code: 0 });
  });

  it('.ci/run removes earlier reports before any step and reads counts only through the summary', async () => {
    const script = await readFile(path.join(ROOT, '.ci/run'), 'utf8');
    const removal = script.indexOf('rm -f /tmp/oncely-ci-*.json');
    expect(removal).toBeGreaterThan(0);
    expect(removal).toBeLessThan(script.indexOf('step typecheck'));
    expect(script).not.toMatch(/numFailedTests/);
    expect(script).toMatch(/node \.ci\/summary\.mjs "\$steps_file"/);
  });
});
