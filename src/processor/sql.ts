// The statements over domain tables that carry oncely's guarantees (the versioned UPDATE, the guarded
// transition). Every statement over oncely's own tables is in src/db/commands-sql.ts and src/db/outbox-sql.ts.
import type { Sql } from '../core/command.ts';
import type { EntityTable, Versioned } from '../core/table.ts';

export type { CommandRow } from '../db/schema.ts';

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
