// The printed table of one scenario, and the ratios that go beside every figure.
import type { RunResult } from './result.ts';
import type { Workload } from './scenarios.ts';

export interface Row {
  metric: string;
  oncely: number | string | null;
  baseline: number | string | null;
  /** oncely / pg-boss, when both are numbers and the baseline is not 0. */
  ratio: number | null;
}

export interface ScenarioReport {
  key: string;
  title: string;
  commands: number;
  oncely: RunResult;
  baseline: RunResult;
  rows: Row[];
  /** Column headings when the two runs are not oncely and pg-boss (the history scenario). */
  labels?: [string, string];
}

function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return a / b;
}

function numericRow(metric: string, a: number | null, b: number | null): Row {
  return { metric, oncely: a, baseline: b, ratio: ratio(a, b) };
}

/** Which figures a scenario reports (the wait scenario adds request latency, the drain the workers' rate). */
export function buildRows(workload: Workload, oncely: RunResult, baseline: RunResult, statementsAvailable: boolean): Row[] {
  const rows: Row[] = [
    numericRow('commands/s end to end', oncely.endToEndPerSec, baseline.endToEndPerSec),
    numericRow('submissions/s', oncely.submitPerSec, baseline.submitPerSec),
    numericRow('p50 submit-to-terminal, ms', oncely.latencyP50Ms, baseline.latencyP50Ms),
    numericRow('p99 submit-to-terminal, ms', oncely.latencyP99Ms, baseline.latencyP99Ms),
  ];
  if (workload.mode.kind === 'wait') {
    rows.push(numericRow('p50 request (waits for outcome), ms', oncely.requestP50Ms, baseline.requestP50Ms));
    rows.push(numericRow('p99 request (waits for outcome), ms', oncely.requestP99Ms, baseline.requestP99Ms));
    rows.push(numericRow("  p99 request without each client's first, ms", oncely.requestP99AfterFirstMs, baseline.requestP99AfterFirstMs));
    rows.push({
      metric: 'answered with the outcome (200, not 202)',
      oncely: oncely.answeredWithOutcome === null ? null : `${oncely.answeredWithOutcome}/${oncely.commands}`,
      baseline: null,
      ratio: null,
    });
  }
  if (workload.mode.kind === 'drain') rows.push(numericRow('worker applied/s (first to last completion)', oncely.workerAppliedPerSec, baseline.workerAppliedPerSec));
  rows.push(numericRow('deadlocks', oncely.deadlocks, baseline.deadlocks));
  rows.push(
    statementsAvailable
      ? numericRow('statements per command', oncely.statementsPerCommand, baseline.statementsPerCommand)
      : { metric: 'statements per command', oncely: 'n/a', baseline: 'n/a', ratio: null },
  );
  rows.push(...costRows(oncely, baseline));
  rows.push({ metric: 'terminal / commands', oncely: `${oncely.terminal}/${oncely.commands}`, baseline: `${baseline.terminal}/${baseline.commands}`, ratio: null });
  rows.push({ metric: 'correct', oncely: verdict(oncely), baseline: verdict(baseline), ratio: null });
  rows.push(numericRow('run time, s (setup included)', oncely.seconds, baseline.seconds));
  return rows;
}

/** A process's role, the same for both systems: api, worker-1, ..., inbox (the baseline's workers are baseline-worker-N). */
const role = (name: string) => name.replace(/^baseline-/, '');

/** CPU per command by role, then what PostgreSQL did per command (scripts/bench/cost.ts says how each is read). */
function costRows(oncely: RunResult, baseline: RunResult): Row[] {
  const a = oncely.cost;
  const b = baseline.cost;
  const processes = (cost: RunResult['cost']) => new Map(Object.entries(cost?.cpuMsPerCommand.processes ?? {}).map(([name, ms]) => [role(name), ms]));
  const pa = processes(a);
  const pb = processes(b);
  const roles = [...new Set([...pa.keys(), ...pb.keys()])].sort((x, y) => (x === 'api' ? -1 : y === 'api' ? 1 : x.localeCompare(y)));
  const rows = roles.map((r) => numericRow(`CPU ms/command: ${r}`, pa.get(r) ?? null, pb.get(r) ?? null));
  const workers = (m: Map<string, number>) => [...m].filter(([r]) => r.startsWith('worker-')).reduce((sum, [, ms]) => sum + ms, 0);
  if (roles.filter((r) => r.startsWith('worker-')).length > 1) rows.push(numericRow('CPU ms/command: all workers', workers(pa), workers(pb)));
  rows.push(
    numericRow('CPU ms/command: PostgreSQL (cluster)', a?.cpuMsPerCommand.postgres ?? null, b?.cpuMsPerCommand.postgres ?? null),
    numericRow('CPU ms/command: load generator', a?.cpuMsPerCommand.generator ?? null, b?.cpuMsPerCommand.generator ?? null),
    numericRow('CPU ms/command: all roles above', allRoles(a), allRoles(b)),
    numericRow('CPU ms/command: whole machine', a?.cpuMsPerCommand.machine ?? null, b?.cpuMsPerCommand.machine ?? null),
    numericRow('  of which no process above (kernel, others)', unattributed(a), unattributed(b)),
    numericRow('machine busy, % of all cores', a ? a.machineBusy * 100 : null, b ? b.machineBusy * 100 : null),
    ...roles.map((r) => numericRow(`RSS MB at the end: ${r}`, rssOf(a, r), rssOf(b, r))),
    numericRow('commits per command', a?.commitsPerCommand ?? null, b?.commitsPerCommand ?? null),
    numericRow('rows written per command', a?.rowsWrittenPerCommand ?? null, b?.rowsWrittenPerCommand ?? null),
    numericRow('WAL bytes per command', a?.walBytesPerCommand ?? null, b?.walBytesPerCommand ?? null),
  );
  return rows;
}

function rssOf(cost: RunResult['cost'], r: string): number | null {
  const entry = Object.entries(cost?.rssMb ?? {}).find(([name]) => role(name) === r);
  return entry && Number.isFinite(entry[1]) ? entry[1] : null;
}

/** The system's own CPU per command: every process it ran, PostgreSQL and the load generator (what neighbours on a shared machine cannot inflate). */
function allRoles(cost: RunResult['cost']): number | null {
  if (!cost || cost.cpuMsPerCommand.postgres === null) return null;
  const c = cost.cpuMsPerCommand;
  return c.postgres! + c.generator + Object.values(c.processes).reduce((sum, ms) => sum + ms, 0);
}

/** The machine's CPU per command that no measured process was charged with: kernel work (loopback softirqs) and anything else running. */
function unattributed(cost: RunResult['cost']): number | null {
  const roles = allRoles(cost);
  return cost && roles !== null ? cost.cpuMsPerCommand.machine - roles : null;
}

function verdict(result: RunResult): string {
  if (!result.finished) return 'UNFINISHED';
  return result.correctness.ok ? 'ok' : 'FAIL';
}

function format(value: number | string | null): string {
  if (value === null) return '-';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return '-';
  if (Math.abs(value) >= 100 || Number.isInteger(value)) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** The scenario as text: the table, then each system's checks and any error. */
export function renderScenario(report: ScenarioReport): string {
  const widths = [44, 15, 15, 16];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('');
  const [first, second] = report.labels ?? ['oncely', 'pg-boss'];
  const out = [report.title, line(['', first, second, `${first}/${second}`])];
  for (const row of report.rows) {
    out.push(line([`  ${row.metric}`, format(row.oncely), format(row.baseline), row.ratio === null ? '' : `${row.ratio.toFixed(2)}x`]));
  }
  for (const result of [report.oncely, report.baseline]) {
    if (result.error) out.push(`  ${result.system}: ${result.finished ? 'error' : 'UNFINISHED'}: ${result.error}`);
    for (const check of result.correctness.checks) out.push(`  ${result.system}: ${check}`);
  }
  for (const result of [report.oncely, report.baseline]) {
    if (result.topStatements.length === 0) continue;
    out.push(`  ${result.system}: statements by execution time (ms per command, calls per command, statement)`);
    for (const s of result.topStatements) {
      out.push(`    ${(s.totalMs / report.commands).toFixed(3).padStart(7)} ${(s.calls / report.commands).toFixed(2).padStart(6)}  ${s.query}`);
    }
  }
  return out.join('\n');
}
