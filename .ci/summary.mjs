// The closing count of .ci/run. Reads the steps file .ci/run wrote (one line per step: name, exit code and,
// for a vitest step, its JSON report), prints one line per step and then `N passed, M failed`, and exits 1
// when anything failed. Every step counts: a failed step is at least one failed count, however its report reads;
// a vitest report counts failed tests, and also failed files no failed test accounts for (a beforeAll/afterAll
// that threw, a file that failed to import: their tests count as skipped); a missing report is a failure.
import { readFileSync } from 'node:fs';

/** Failures in a vitest JSON report that are not failed tests: files whose hooks threw or that failed to load. */
function fileFailures(report) {
  let count = 0;
  for (const file of report.testResults ?? []) {
    const failedTests = (file.assertionResults ?? []).filter((test) => test.status === 'failed').length;
    if (file.status === 'failed' && failedTests === 0) count++;
  }
  return count;
}

export function summarise(lines) {
  let passed = 0;
  let failed = 0;
  const out = [];
  for (const line of lines.filter((text) => text.trim() !== '')) {
    const [name, codeText, reportPath] = line.split('\t');
    const code = Number(codeText);
    if (!reportPath) {
      if (code === 0) passed++;
      else failed++;
      out.push(`${name}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`}`);
      continue;
    }
    let report;
    try {
      report = JSON.parse(readFileSync(reportPath, 'utf8'));
    } catch {
      failed++;
      out.push(`${name}: FAILED (exit ${code}, no report at ${reportPath})`);
      continue;
    }
    const tests = report.numFailedTests ?? 0;
    const files = fileFailures(report);
    // A run that exited non-zero with nothing counted failed (an unhandled error, a crash after the report) is one failure.
    const unexplained = code !== 0 && tests + files === 0 ? 1 : 0;
    passed += report.numPassedTests ?? 0;
    failed += tests + files + unexplained;
    out.push(
      `${name}: ${report.numPassedTests ?? 0} tests passed, ${tests} failed, ${files} files failed outside their tests` +
        (unexplained ? `, exit ${code} with nothing failed in the report (counted as 1 failed)` : ''),
    );
  }
  out.push(`${passed} passed, ${failed} failed`);
  return { text: out.join('\n'), failed };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  let lines = [];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    lines = [`the steps file ${file}\t1\t`];
  }
  const { text, failed } = summarise(lines);
  console.log(text);
  process.exit(failed > 0 ? 1 : 0);
}
