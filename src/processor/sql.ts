// The statements that carry oncely's guarantees, each with the reason it is shaped the way it is.
// Everything else in the processor is plumbing around these.
import type { Sql } from '../core/command.ts';
import type { CommandError } from '../core/envelope.ts';
import type { EntityTable, Versioned } from '../core/table.ts';
import { SETTLED_CHANNEL } from '../db/settled-listener.ts';

export const COMMAND_COLUMNS = `client_id, id, type, entity_id, expected_version, payload, fingerprint, status, attempts,
  result, error, submitted_at, updated_at, completed_at, trace_parent`;

export interface CommandRow {
  client_id: string;
  id: string;
  type: string;
  entity_id: string;
  expected_version: number | null;
  payload: unknown;
  fingerprint: string;
  status: 'queued' | 'retrying' | 'succeeded' | 'rejected' | 'conflict' | 'dead';
  attempts: number;
  result: unknown;
  error: CommandError | null;
  submitted_at: Date;
  updated_at: Date;
  completed_at: Date | null;
  /** W3C traceparent of the submission span, when tracing was on (src/tracing/). */
  trace_parent: string | null;
}

// Dedupe at submission, for many clients at once, in one round trip. The primary key (client_id, id) admits
// one row per idempotency key; rows go in key order so two concurrent flushes lock keys in the same order
// and cannot deadlock. The second half reads the rows that already existed when the statement began (a
// data-modifying CTE's rows are invisible to its siblings, so the halves never overlap). A concurrent
// duplicate still being committed by another transaction is in neither half: it is read afterwards.
export const INSERT_OR_READ_COMMANDS = `
  WITH input AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset($1::jsonb)
      AS c(client_id text, id text, type text, entity_id text, expected_version integer, payload jsonb, fingerprint text, trace_parent text)
  ), inserted AS (
    INSERT INTO commands (client_id, id, type, entity_id, expected_version, payload, fingerprint, status, trace_parent)
    SELECT client_id, id, type, entity_id, expected_version, payload, fingerprint, 'queued', trace_parent FROM input
    ORDER BY client_id, id
    ON CONFLICT (client_id, id) DO NOTHING
    RETURNING ${COMMAND_COLUMNS}
  )
  SELECT true AS inserted, ${COMMAND_COLUMNS} FROM inserted
  UNION ALL
  -- One primary-key probe per input row (LIMIT 1 keeps the planner from flattening it). A plain join lets the planner, which guesses 100 input rows, hash
  -- them and scan the whole commands table on every submission: 6 ms at 11,000 rows, growing with history.
  SELECT false AS inserted, existing.* FROM input
  CROSS JOIN LATERAL (SELECT ${COMMAND_COLUMNS} FROM commands WHERE commands.client_id = input.client_id AND commands.id = input.id LIMIT 1) AS existing`;

export const SELECT_COMMANDS_OF_CLIENTS = `
  SELECT ${COMMAND_COLUMNS} FROM commands
  WHERE (client_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;

export const SELECT_COMMANDS = `SELECT ${COMMAND_COLUMNS} FROM commands WHERE client_id = $1 AND id = ANY($2::text[])`;

// Dedupe at the worker: the row lock serialises every delivery of one command, and a terminal status
// under that lock means an earlier delivery already committed its effect, so this one must do nothing.
export const LOCK_COMMAND = `SELECT ${COMMAND_COLUMNS} FROM commands WHERE client_id = $1 AND id = $2 FOR UPDATE`;

// Dedupe at the worker, for a whole batch: one statement locks every command row, in (client_id, id) order
// (the first locks of the global lock order, see batch.ts). A terminal status under the lock means an
// earlier delivery already committed its effect.
export const LOCK_COMMANDS = `
  SELECT ${COMMAND_COLUMNS} FROM commands
  WHERE (client_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
  ORDER BY client_id, id
  FOR UPDATE`;

// Every outcome of a batch in one statement, in the transaction of the effects, each announced on commit.
// Like RECORD_OUTCOME it never overwrites an ended command; the caller checks that all were recorded.
export const RECORD_OUTCOMES = `
  WITH settled AS (
    UPDATE commands AS c
    SET status = u.status, attempts = u.attempts, result = u.result, error = u.error, updated_at = now(),
        completed_at = now()
    FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::jsonb[], $6::jsonb[])
      AS u(client_id, id, status, attempts, result, error)
    WHERE c.client_id = u.client_id AND c.id = u.id AND c.status IN ('queued', 'retrying')
    RETURNING c.client_id, c.id
  )
  SELECT count(*) AS settled, count(pg_notify('${SETTLED_CHANNEL}', client_id || ' ' || id)) AS announced FROM settled`;

// Records the outcome in the same transaction as the effect, and announces it on commit.
export const RECORD_OUTCOME = `
  WITH settled AS (
    UPDATE commands
    SET status = $3, attempts = greatest(attempts + 1, $4), result = $5, error = $6, updated_at = now(),
        completed_at = CASE WHEN $3 IN ('succeeded', 'rejected', 'conflict', 'dead') THEN now() END
    -- Never overwrites an ended command: a late failure report cannot undo a committed outcome.
    WHERE client_id = $1 AND id = $2 AND status IN ('queued', 'retrying')
    RETURNING client_id, id, status
  )
  SELECT pg_notify('${SETTLED_CHANNEL}', client_id || ' ' || id) FROM settled
  WHERE status IN ('succeeded', 'rejected', 'conflict', 'dead')`;

// A failed attempt: `retrying`, or `dead` once the queue gives up ($4), the handler itself (not the
// database) has failed $5 times, or the command has used up its whole budget of attempts ($8, transient
// failures included: every retry loop is bounded). Like every outcome, it never touches an ended command.
export const RECORD_FAILURE = `
  WITH settled AS (
    UPDATE commands
    SET failures = failures + $3::int,
        status = CASE WHEN $4::boolean OR failures + $3::int >= $5::int OR attempts + 1 >= $8::int THEN 'dead' ELSE 'retrying' END,
        attempts = greatest(attempts + 1, $6), error = $7, updated_at = now(),
        completed_at = CASE WHEN $4::boolean OR failures + $3::int >= $5::int OR attempts + 1 >= $8::int THEN now() END
    WHERE client_id = $1 AND id = $2 AND status IN ('queued', 'retrying')
    RETURNING client_id, id, status, failures, attempts
  ), announced AS (
    SELECT pg_notify('${SETTLED_CHANNEL}', client_id || ' ' || id) FROM settled WHERE status = 'dead'
  )
  SELECT status, failures, attempts, (SELECT count(*) FROM announced) AS announced FROM settled`;

// A job that reached the dead-letter queue without the processor recording it (its last attempt lost its
// connection): the command ends dead unless some attempt already ended it, or it changed after the job was
// dead-lettered ($3) -- a replay in between must not be undone by the old dead letter.
export const MARK_DEAD = `
  WITH settled AS (
    UPDATE commands
    SET status = 'dead', updated_at = now(), completed_at = now(),
        error = coalesce(error, '{"code":"retries_exhausted","message":"the command failed on every attempt"}'::jsonb)
    WHERE client_id = $1 AND id = $2 AND status IN ('queued', 'retrying') AND updated_at <= $3
    RETURNING client_id, id
  )
  SELECT pg_notify('${SETTLED_CHANNEL}', client_id || ' ' || id) FROM settled`;

// Replay: only a dead command goes back to the queue, and only once per replay request.
export const REQUEUE_DEAD = `
  UPDATE commands SET status = 'queued', error = NULL, result = NULL, completed_at = NULL, updated_at = now(),
    failures = 0
  WHERE client_id = $1 AND id = $2 AND status = 'dead'
  RETURNING ${COMMAND_COLUMNS}`;

// Dead letters oldest first, keyset-paginated after ($2, $3) so a page never skips or repeats a row while
// others die or are replayed; served by the partial index commands_dead_letters_idx.
export const SELECT_DEAD_LETTERS = `
  SELECT ${COMMAND_COLUMNS} FROM commands
  WHERE client_id = $1 AND status = 'dead'
    AND (completed_at, id) > (coalesce($2::timestamptz, '-infinity'), coalesce($3::text, ''))
  ORDER BY completed_at, id
  LIMIT $4`;

/** Thrown when a guarded write touched no row although the row was locked: a bug, never a business case. */
export class GuardViolation extends Error {
  override name = 'GuardViolation';
}

/**
 * A table whose rows carry a version, as its descriptor (src/core/table.ts): only its name and column names,
 * checked to be plain identifiers when it was described, are ever spliced into SQL text; every value is a
 * parameter.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the default admits a table of any row type
export type VersionedTable<R extends Versioned = any> = EntityTable<R>;

/**
 * The optimistic version check: `UPDATE ... WHERE id = $id AND version = $v`, bumping the version.
 * Exactly one row must change; anything else means the row moved under us, and the transaction is aborted.
 * `set` names properties of the row; the descriptor maps them to columns.
 *
 * @example
 * const version = await versionedUpdate(sql, accountRows, 'acc-1', 3, { balance: 500 });
 */
export async function versionedUpdate<R extends Versioned>(
  sql: Sql,
  table: VersionedTable<R>,
  id: string,
  version: number,
  set: Partial<Omit<R, 'id' | 'version'>>,
): Promise<number> {
  const properties = Object.keys(set).filter((property) => set[property as keyof typeof set] !== undefined);
  const columns = properties.map((property) => {
    const column = (table.columns as Record<string, readonly [string, string] | undefined>)[property];
    if (!column || property === 'id' || property === 'version') throw new Error(`${table.name} has no column for ${property}`);
    return column[0];
  });
  const assignments = columns.map((column, i) => `${column} = $${i + 3}`);
  const { rows, rowCount } = await sql.query<{ version: number }>(
    `UPDATE ${table.name} SET ${[...assignments, 'version = version + 1', 'updated_at = now()'].join(', ')}
     WHERE id = $1 AND version = $2 RETURNING version`,
    [id, version, ...properties.map((property) => set[property as keyof typeof set])],
  );
  if (rowCount !== 1 || !rows[0]) throw new GuardViolation(`${table.name} ${id} is not at version ${version}`);
  return rows[0].version;
}

/**
 * The state-machine guard: one statement that moves a row from one of `from` to `to`, and only then.
 * Returns the new version, or null when the row was not in an allowed state (or not at `version`).
 * The table's rows must have a `status` property (its column is taken from the descriptor).
 *
 * @example
 * await guardedTransition(sql, orderRows, 'order-1', ['CREATED'], 'PAID');
 */
export async function guardedTransition<S extends string>(
  sql: Sql,
  table: VersionedTable<Versioned & { status: S }>,
  id: string,
  from: readonly S[],
  to: S,
  version?: number,
): Promise<number | null> {
  const status = table.columns.status[0];
  const { rows } = await sql.query<{ version: number }>(
    `UPDATE ${table.name} SET ${status} = $3, version = version + 1, updated_at = now()
     WHERE id = $1 AND ${status} = ANY($2::text[]) ${version === undefined ? '' : 'AND version = $4'}
     RETURNING version`,
    version === undefined ? [id, from, to] : [id, from, to, version],
  );
  return rows[0]?.version ?? null;
}
