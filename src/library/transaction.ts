// The caller's transaction, whatever shape it comes in: a pg.Client or pg.PoolClient on which the caller
// ran BEGIN, or a drizzle node-postgres transaction (whose session holds the pg client). Every statement
// submit() sends goes to that one connection, so the commands and their jobs commit or roll back with the
// caller's own writes.
import type pg from 'pg';
import type { PgTransaction } from 'drizzle-orm/pg-core';
import type { Sql } from '../core/command.ts';

/**
 * What `submit(tx, commands)` accepts: a pg client inside a transaction, or a drizzle node-postgres
 * transaction (`db.transaction(async (tx) => ...)`).
 *
 * @example
 * await db.transaction(async (tx: Transaction) => submit(tx, commands));
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Transaction = pg.ClientBase | PgTransaction<any, any, any>;

/**
 * A caller's mistake in using the library (not a transaction, no oncely started): said in one line.
 *
 * @example
 * await submit(pool as never, commands); // throws OncelyUsageError: got a pool ..., not a transaction
 */
export class OncelyUsageError extends Error {
  override name = 'OncelyUsageError';
}

interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  getTransactionStatus?: () => string | null;
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

function isPool(value: object): boolean {
  // A pool hands each query to any of its connections: statements could not share one transaction.
  return 'totalCount' in value && 'idleCount' in value && isFunction((value as { connect?: unknown }).connect);
}

function clientOf(tx: unknown): PgClientLike {
  if (typeof tx !== 'object' || tx === null) throw new OncelyUsageError('submit(tx, ...) needs a pg client inside a transaction or a drizzle transaction');
  // A drizzle node-postgres transaction runs on its session's client (a checked-out PoolClient).
  const session = (tx as { session?: { client?: unknown } }).session;
  const candidate: unknown = session && typeof session === 'object' && 'client' in session ? session.client : tx;
  if (typeof candidate !== 'object' || candidate === null || !isFunction((candidate as { query?: unknown }).query)) {
    throw new OncelyUsageError('submit(tx, ...) needs a pg.Client, a pg.PoolClient or a drizzle node-postgres transaction');
  }
  if (isPool(candidate)) {
    throw new OncelyUsageError(
      'submit(tx, ...) got a pool (or a drizzle database over one), not a transaction: pass the client your BEGIN ran on, or the tx of db.transaction()',
    );
  }
  return candidate as PgClientLike;
}

/**
 * Parameterised SQL on the caller's connection, after checking that the connection is inside an open
 * transaction: outside one, the command row and its job would each commit on their own.
 *
 * @example
 * await client.query('BEGIN');
 * const sql = sqlOfTransaction(client);
 */
export function sqlOfTransaction(tx: Transaction): Sql {
  const client = clientOf(tx);
  // pg reports the status of the last ReadyForQuery: 'T' in a transaction, 'E' in a failed one, 'I' idle.
  const status = client.getTransactionStatus?.();
  if (status === 'I') throw new OncelyUsageError('submit(tx, ...) must run inside a transaction: the connection is idle (run BEGIN first, or use db.transaction())');
  if (status === 'E') throw new OncelyUsageError('submit(tx, ...) got a transaction that has already failed: roll it back');
  return {
    async query(text, values) {
      const result = await client.query(text, values as unknown[] | undefined);
      return { rows: result.rows as never[], rowCount: result.rowCount };
    },
  };
}
