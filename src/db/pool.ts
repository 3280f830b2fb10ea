import { createHash } from 'node:crypto';
import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import * as schema from './schema.ts';
import type { Sql } from '../core/command.ts';

export type Database = NodePgDatabase<typeof schema>;

/** Server-side bounds on every session, so a stuck client can never hold locks or a transaction open forever. */
export const SESSION_OPTIONS = ['-c statement_timeout=30000', '-c lock_timeout=10000', '-c idle_in_transaction_session_timeout=60000'].join(' ');

/** bigint columns hold money; they come back as exact numbers or not at all. */
export function parseSafeInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`integer ${text} is outside the exact range`);
  return value;
}

const types: pg.CustomTypesConfig = {
  getTypeParser(oid, format) {
    if (oid === pg.types.builtins.INT8) return parseSafeInteger;
    return pg.types.getTypeParser(oid, format) as (text: string) => unknown;
  },
};

/**
 * A pool's `onConnect` hook: gives every new connection an 'error' listener for its whole life. A FATAL
 * that arrives in the same packet as a new connection's ReadyForQuery (pg_terminate_backend, a server
 * shutdown) is emitted after the pool has handed the client out but before `await pool.connect()`
 * resumes, when nobody listens: an unhandled 'error' that crashed the api in the chaos run. The error
 * still fails the client's queries, and the pool drops the client when it is released.
 */
export function keepClientErrorsHandled(client: pg.ClientBase): void {
  client.on('error', () => {});
}

export interface PoolOptions {
  connectionString: string;
  max?: number;
  applicationName: string;
  onError: (err: Error) => void;
  /** pg's pipeline mode: a query is sent at once, without waiting for the ones before it to be answered. */
  pipeline?: boolean;
  /**
   * `transaction`: the URL is a transaction-pooling pooler (PgBouncer pool_mode = transaction). Its clients
   * send no startup settings (PgBouncer 1.18 refuses the `options` parameter; set the bounds on the role
   * instead) and name no prepared statements (a name lives on one server session, which the next
   * transaction may not get).
   */
  pooler?: 'none' | 'transaction';
}

/** Clients of a transaction-pooled pool: they must not name prepared statements. */
const pooledClients = new WeakSet<pg.ClientBase>();

/**
 * Whether statements on this client may be named prepared statements (kept by its server session): not on
 * a client of a transaction-pooling pooler.
 */
const statementNames = new Map<string, string>();

/** The most statement texts a process names: each named text is prepared once on every connection that runs it. */
const MAX_NAMED_STATEMENTS = 500;

/**
 * A prepared statement's name for `text` (its hash, computed once per text: the submission statements are a
 * few kilobytes), or undefined once MAX_NAMED_STATEMENTS texts have names: a handler that builds its SQL
 * text per call must not leave an unbounded number of prepared statements on every connection. Named, a
 * statement is parsed and analysed once per connection instead of at every call.
 */
export function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `oncely_${createHash('sha1').update(text).digest('base64url')}`;
    statementNames.set(text, name);
  }
  return name;
}

export function namesStatements(client: pg.ClientBase): boolean {
  return !pooledClients.has(client);
}

/** A pool whose idle-client errors are reported, never thrown into the event loop. */
export function createPool(options: PoolOptions): pg.Pool {
  const pooled = options.pooler === 'transaction';
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName,
    ...(pooled ? {} : { options: SESSION_OPTIONS }),
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    types,
    onConnect: pooled
      ? (client: pg.ClientBase) => {
          pooledClients.add(client);
          keepClientErrorsHandled(client);
        }
      : keepClientErrorsHandled,
    ...(options.pipeline ? { pipeline: true } : {}),
  });
  pool.on('error', options.onError);
  return pool;
}

/**
 * Fails with advice when `url` refuses the startup settings every direct session sends, as PgBouncer does
 * (1.18: "unsupported startup parameter: options"): DATABASE_URL is a pooler and no DATABASE_DIRECT_URL was
 * given, so the migration lock and the LISTENs would go through it. Any other failure is left to the steps
 * that follow, which report it as before.
 *
 * @example
 * if (directUrl === url) await refuseUnconfiguredPooler(url);
 */
export async function refuseUnconfiguredPooler(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, options: SESSION_OPTIONS, application_name: 'oncely-probe', connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    if (/unsupported startup parameter/i.test((err as Error)?.message ?? '')) {
      throw new Error(
        `DATABASE_URL refused a session's startup settings (${(err as Error).message}): it looks like a transaction-pooling pooler such as PgBouncer. ` +
          'Set DATABASE_DIRECT_URL to PostgreSQL itself (migrations, pg-boss and LISTEN need a session) and DATABASE_POOLER=transaction (docs/operations.md, "Behind a pooler")',
        { cause: err },
      );
    }
  } finally {
    await client.end().catch(() => {});
  }
}

export function createDatabase(pool: pg.Pool): Database {
  return drizzle(pool, { schema });
}

/** Adapts a pg client (or pool) to the processor's minimal Sql interface. */
export function sqlOf(client: pg.Pool | pg.PoolClient): Sql {
  return {
    async query<R>(text: string, values?: readonly unknown[]) {
      // The row type is the caller's word for what its SQL selects, as pg's own query<R> takes it.
      const result = await client.query<R & pg.QueryResultRow>(text, values as unknown[] | undefined);
      return { rows: result.rows, rowCount: result.rowCount };
    },
  };
}

/**
 * The guarantee every transaction helper shares: `run` gets a client of its own; if it throws, the
 * transaction is rolled back before the error goes on; a client whose connection failed (reported through
 * `broke` or the client's 'error' event) or whose ROLLBACK failed is destroyed, never handed out again.
 * `run` sends its own BEGIN and COMMIT (withTransaction below; the pipelined submission flush).
 */
export async function inTransaction<T>(pool: pg.Pool, run: (client: pg.PoolClient, broke: (err: Error) => void) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onError);
  try {
    return await run(client, onError);
  } catch (err) {
    broken ??= await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackError: unknown) => (rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))),
    );
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * Runs `fn` in one transaction on a client of its own, committing if it returns and rolling back if it throws.
 *
 * @example
 * await withTransaction(pool, async (client) => client.query('select 1'));
 */
export function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, async (client) => {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  });
}
