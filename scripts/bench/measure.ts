// Measurements taken from PostgreSQL itself: when every command has ended, deadlocks, statements.
//
// The bench's own queries start with OBSERVER so that they can be left out of the statement count
// (pg_stat_statements keeps the first text it saw for a query shape; these shapes are the bench's own).
import pg from 'pg';

export const OBSERVER = '/* oncely-bench observer */';

export function observerPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 3, application_name: 'oncely-bench-observer' });
  pool.on('error', () => {});
  return pool;
}

export async function one<T extends pg.QueryResultRow>(pool: pg.Pool, text: string, values: unknown[] = []): Promise<T> {
  const { rows } = await pool.query<T>(`${OBSERVER} ${text}`, values);
  return rows[0]!;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Unfinished extends Error {
  override name = 'Unfinished';
}

export interface WaitOptions {
  /** Returns how many of the expected commands are terminal. */
  count: () => Promise<number>;
  expected: number;
  /** Fails when nothing more ended for this long. */
  stallMs: number;
  /** Fails when this moment (performance.now()) passes. */
  deadline: number;
  progress: (terminal: number) => void;
  intervalMs?: number;
}

/** Polls until `expected` commands are terminal; throws Unfinished (saying how far it got) on a stall or the deadline. */
export async function waitUntilTerminal(options: WaitOptions): Promise<void> {
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const n = await options.count();
    options.progress(n);
    if (n >= options.expected) return;
    const now = performance.now();
    if (n !== last) {
      last = n;
      lastChange = now;
    }
    if (now - lastChange > options.stallMs) {
      throw new Unfinished(`${n} of ${options.expected} commands terminal; none more ended in ${(options.stallMs / 1000).toFixed(0)} s`);
    }
    if (now > options.deadline) throw new Unfinished(`${n} of ${options.expected} commands terminal when the time limit passed`);
    await sleep(options.intervalMs ?? 250);
  }
}

/** pg_stat_database.deadlocks of a database. Read it after the processes exited: a backend flushes its counters on exit. */
export async function deadlocks(pool: pg.Pool): Promise<number> {
  await pool.query(`${OBSERVER} SELECT pg_stat_clear_snapshot()`);
  const row = await one<{ n: string }>(pool, `SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()`);
  return Number(row.n);
}

/** Creates pg_stat_statements in this database and forgets what it counted for this database so far. */
export async function resetStatements(pool: pg.Pool): Promise<void> {
  await pool.query(`${OBSERVER} CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
  await pool.query(`${OBSERVER} SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)`);
}

/** sum(calls) of every statement run in this database since resetStatements, the bench's own left out. */
export async function statementCount(pool: pg.Pool): Promise<number> {
  const row = await one<{ n: string | null }>(
    pool,
    `SELECT sum(calls)::text AS n FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND query NOT LIKE '%oncely-bench observer%'`,
  );
  return Number(row.n ?? 0);
}

/** p-th percentile (0..1) of a list of numbers, interpolated like percentile_cont. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** Progress on stderr: one updating line on a terminal, a line every few seconds otherwise. */
export function progressLine(): { update: (text: string) => void; done: () => void } {
  const tty = process.stderr.isTTY;
  let lastPrinted = 0;
  let lastText = '';
  return {
    update(text) {
      lastText = text;
      const now = performance.now();
      if (tty) {
        process.stderr.write(`\r\x1b[K${text}`);
      } else if (now - lastPrinted > 5000) {
        lastPrinted = now;
        process.stderr.write(`${text}\n`);
      }
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[K');
      else if (lastText) process.stderr.write(`${lastText}\n`);
      lastText = '';
    },
  };
}

export interface StatementTime {
  /** The statement's text as pg_stat_statements normalised it, whitespace squeezed, cut to 140 characters. */
  query: string;
  calls: number;
  totalMs: number;
}

/** The statements of this database since resetStatements that took the most execution time, the bench's own left out. */
export async function topStatements(pool: pg.Pool, limit: number): Promise<StatementTime[]> {
  const { rows } = await pool.query<{ query: string; calls: string; ms: number }>(
    `${OBSERVER} SELECT query, calls::text AS calls, total_exec_time AS ms FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND query NOT LIKE '%oncely-bench observer%'
      ORDER BY total_exec_time DESC LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({ query: r.query.replace(/\s+/g, ' ').slice(0, 140), calls: Number(r.calls), totalMs: r.ms }));
}
