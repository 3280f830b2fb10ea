// What one system's run of one scenario produced, and what both runs share.
import type { Cost } from './cost.ts';
import type { StatementTime } from './measure.ts';
import type { Server } from './postgres.ts';

export interface RunContext {
  server: Server;
  /** Prefix of the scratch databases of this invocation. */
  runId: string;
  logDir: string;
  workers: number;
  /** Fails a wait when nothing more ended for this long. */
  stallMs: number;
  /** Bound of each scenario run (submission plus waiting), ms. */
  timeoutMs: number;
  keepDatabases: boolean;
  progress: (text: string) => void;
  /** Aborted on SIGINT. */
  signal: AbortSignal;
}

export interface Correctness {
  ok: boolean;
  checks: string[];
}

export interface RunResult {
  system: 'oncely' | 'pg-boss';
  /** False when the run did not end (timeout, stall, a process died): figures are then partial or null. */
  finished: boolean;
  error: string | null;
  commands: number;
  terminal: number;
  statuses: Record<string, number>;
  /** Commands per second from the first submission to the last terminal command (database clock). */
  endToEndPerSec: number | null;
  /** Commands accepted per second, from the first request to the last answer (client clock). */
  submitPerSec: number | null;
  /** Submit-to-terminal latency, ms (database clock: submitted/created to completed). */
  latencyP50Ms: number | null;
  latencyP99Ms: number | null;
  /** Request latency seen by the client, ms (the wait scenario: POST with Prefer: wait=30). */
  requestP50Ms: number | null;
  requestP99Ms: number | null;
  /** The same p99 without each client's first request (those arrive together, on new connections: the start-up wave). */
  requestP99AfterFirstMs: number | null;
  /** Requests answered with the outcome (200) rather than 202, the wait scenario only. */
  answeredWithOutcome: number | null;
  /** The drain scenario: commands applied per second from the first to the last completion. */
  workerAppliedPerSec: number | null;
  /** pg_stat_database.deadlocks delta of the run's database. */
  deadlocks: number | null;
  /** sum(calls) of pg_stat_statements during the measured phase, per command; null when unavailable. */
  statementsPerCommand: number | null;
  /** The statements that took the most execution time during the measured phase (pg_stat_statements). */
  topStatements: StatementTime[];
  /** CPU, commits, rows and WAL per command during the measured phase (scripts/bench/cost.ts); null when unfinished. */
  cost: Cost | null;
  /** Submission attempts that failed and were repeated. */
  submitErrors: number;
  correctness: Correctness;
  seconds: number;
}

export function emptyResult(system: RunResult['system'], commands: number): RunResult {
  return {
    system,
    finished: false,
    error: null,
    commands,
    terminal: 0,
    statuses: {},
    endToEndPerSec: null,
    submitPerSec: null,
    latencyP50Ms: null,
    latencyP99Ms: null,
    requestP50Ms: null,
    requestP99Ms: null,
    requestP99AfterFirstMs: null,
    answeredWithOutcome: null,
    workerAppliedPerSec: null,
    deadlocks: null,
    statementsPerCommand: null,
    cost: null,
    topStatements: [],
    submitErrors: 0,
    correctness: { ok: false, checks: [] },
    seconds: 0,
  };
}

/** Compares balances and ledger row counts with what the workload expects. */
export function checkBalances(expected: Map<string, number>, actual: Map<string, number>, expectedLedgerRows: number, actualLedgerRows: number): string[] {
  const problems: string[] = [];
  let wrong = 0;
  let example = '';
  for (const [id, balance] of expected) {
    const got = actual.get(id);
    if (got !== balance) {
      wrong++;
      example ||= `${id}: expected ${balance}, found ${got ?? 'no account'}`;
    }
  }
  const sumExpected = [...expected.values()].reduce((a, b) => a + b, 0);
  const sumActual = [...actual.values()].reduce((a, b) => a + b, 0);
  if (wrong > 0) problems.push(`FAIL ${wrong} of ${expected.size} balances wrong (${example}); sum ${sumActual} vs expected ${sumExpected}`);
  else problems.push(`ok: all ${expected.size} balances as expected (sum ${sumActual})`);
  if (actualLedgerRows !== expectedLedgerRows) problems.push(`FAIL ledger rows ${actualLedgerRows}, expected ${expectedLedgerRows}`);
  else problems.push(`ok: ${actualLedgerRows} ledger rows`);
  return problems;
}
