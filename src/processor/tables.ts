// The set-based statements, built once per table from its descriptor: lock many rows in key order, read
// by a column, one versioned UPDATE for many rows, one INSERT for many rows. Only descriptor names (checked
// as plain identifiers in src/core/table.ts) are spliced into SQL; every value is a parameter.
import { arrayLiteral, jsonArrayLiteral, jsonOrNull } from '../db/json.ts';
import type { Sql } from '../core/command.ts';
import type { Domain } from '../core/domain.ts';
import type { AppendTable, ColumnType, EntityTable, Versioned } from '../core/table.ts';
import { GuardViolation } from './sql.ts';

type AnyRow = Record<string, unknown>;

function fromDatabase(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'bigint') {
    const number = typeof value === 'number' ? value : Number(value);
    if (!Number.isSafeInteger(number)) throw new RangeError(`not an exact integer: ${typeof value === 'string' || typeof value === 'number' ? value : typeof value}`);
    return number;
  }
  return value;
}

/** A descriptor's [property, [column, type]] pairs, listed once per table (readRow runs for every row a batch reads). */
const columnLists = new WeakMap<EntityTable | AppendTable, readonly (readonly [string, readonly [string, ColumnType]])[]>();

function entries(table: EntityTable | AppendTable): readonly (readonly [string, readonly [string, ColumnType]])[] {
  let list = columnLists.get(table);
  if (!list) {
    list = Object.entries(table.columns as Record<string, readonly [string, ColumnType]>);
    columnLists.set(table, list);
  }
  return list;
}

/** A database row as the descriptor's object. */
function readRow<R>(table: EntityTable | AppendTable, row: AnyRow): R {
  const out: AnyRow = {};
  for (const [property, [column, type]] of entries(table)) out[property] = fromDatabase(type, row[column]);
  return out as R;
}

const selectList = (table: EntityTable) =>
  entries(table)
    .map(([, [column]]) => column)
    .join(', ');

/**
 * Locks the rows with these ids, in id order, in one statement: the LockRows node sits above the sort, so
 * rows are locked in key order. FOR NO KEY UPDATE, like the UPDATE that follows: foreign-key checks of
 * inserts elsewhere (FOR KEY SHARE) never wait on it.
 */
export async function lockRows<R extends Versioned>(sql: Sql, table: EntityTable<R>, ids: readonly string[]): Promise<R[]> {
  const { rows } = await sql.query<AnyRow>(`SELECT ${selectList(table)} FROM ${table.name} WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE`, [
    arrayLiteral(ids),
  ]);
  return rows.map((row) => readRow<R>(table, row));
}

/** Reads (does not lock) the rows whose `column` is one of `values`. */
export async function readRowsBy<R extends Versioned>(sql: Sql, table: EntityTable<R>, column: string, values: readonly string[]): Promise<R[]> {
  if (!/^[a-z_][a-z0-9_]*$/.test(column)) throw new Error(`bad column name ${column}`);
  const { rows } = await sql.query<AnyRow>(`SELECT ${selectList(table)} FROM ${table.name} WHERE ${column} = ANY($1::text[])`, [arrayLiteral(values)]);
  return rows.map((row) => readRow<R>(table, row));
}

const ARRAY_TYPE: Record<ColumnType, string> = {
  text: 'text[]',
  bigint: 'bigint[]',
  integer: 'integer[]',
  jsonb: 'jsonb[]',
  boolean: 'boolean[]',
  uuid: 'uuid[]',
  timestamptz: 'timestamptz[]',
};

/** One column's values as an array parameter, its literal built natively where it can be (src/db/json.ts). */
const arrayOf = (type: ColumnType, values: unknown[]): unknown =>
  type === 'jsonb' ? jsonArrayLiteral(values.map(jsonOrNull)) : arrayLiteral(values.map((value) => value ?? null));

/** The statements' texts, built once per table. */
const texts = new WeakMap<EntityTable | AppendTable, { insert: string; update: string }>();

function textsOf(table: EntityTable | AppendTable): { insert: string; update: string } {
  let found = texts.get(table);
  if (found) return found;
  const columns = entries(table);
  const names = columns.map(([, [column]]) => column);
  const changed = columns.filter(([property]) => property !== 'id' && property !== 'version');
  const arrays = ['$1::text[]', '$2::integer[]', '$3::integer[]', ...changed.map(([, [, type]], i) => `$${i + 4}::${ARRAY_TYPE[type]}`)];
  const aliases = ['id', 'expected', 'next_version', ...changed.map(([, [column]]) => column)];
  const assignments = [
    ...changed.map(([, [column]]) => `${column} = u.${column}`),
    'version = u.next_version',
    ...(table.kind === 'entity' ? table.stamped.map((column) => `${column} = now()`) : []),
  ];
  found = {
    insert: `INSERT INTO ${table.name} (${names.join(', ')})
     SELECT ${names.join(', ')} FROM unnest(${columns.map(([, [, type]], i) => `$${i + 1}::${ARRAY_TYPE[type]}`).join(', ')}) WITH ORDINALITY AS u(${names.join(', ')}, ord) ORDER BY ord`,
    update: `UPDATE ${table.name} AS t SET ${assignments.join(', ')}
     FROM unnest(${arrays.join(', ')}) AS u(${aliases.join(', ')})
     WHERE t.id = u.id AND t.version = u.expected`,
  };
  texts.set(table, found);
  return found;
}

/**
 * The optimistic version check for many rows at once: `UPDATE t SET ... FROM unnest(...) u WHERE t.id = u.id
 * AND t.version = u.expected`. Every row must match; a miss means a row moved under its lock (a bug), and
 * the statement's batch is abandoned.
 */
export async function updateRows<R extends Versioned>(sql: Sql, table: EntityTable<R>, changes: readonly { row: R; expectedVersion: number }[]): Promise<void> {
  if (changes.length === 0) return;
  const columns = entries(table).filter(([property]) => property !== 'id' && property !== 'version');
  const values: unknown[] = [
    arrayLiteral(changes.map((change) => change.row.id)),
    arrayLiteral(changes.map((change) => change.expectedVersion)),
    arrayLiteral(changes.map((change) => change.row.version)),
    ...columns.map(([property, [, type]]) =>
      arrayOf(
        type,
        changes.map((change) => (change.row as unknown as AnyRow)[property]),
      ),
    ),
  ];
  const { rowCount } = await sql.query(textsOf(table).update, values);
  if (rowCount !== changes.length) throw new GuardViolation(`${table.name}: ${changes.length - (rowCount ?? 0)} row(s) moved under their lock`);
}

/** Inserts many rows in one statement, in the order given (key order for entities, queue order for a ledger). */
export async function insertRows<R>(sql: Sql, table: EntityTable | AppendTable, rows: readonly R[]): Promise<void> {
  if (rows.length === 0) return;
  await sql.query(
    textsOf(table).insert,
    entries(table).map(([property, [, type]]) =>
      arrayOf(
        type,
        rows.map((row) => (row as AnyRow)[property]),
      ),
    ),
  );
}

/** The PostgreSQL types (pg_type.typname) each descriptor type reads and writes. */
const DATABASE_TYPES: Record<ColumnType, readonly string[]> = {
  text: ['text', 'varchar', 'bpchar'],
  bigint: ['int8'],
  integer: ['int4'],
  jsonb: ['jsonb'],
  boolean: ['bool'],
  uuid: ['uuid'],
  timestamptz: ['timestamptz'],
};

/**
 * Checks every descriptor of the domains against the database once, at start: its table exists (as the processor's
 * statements name it, through the search_path), every column it reads and writes exists with a type it
 * can read and write, and the database needs no column it leaves out (NOT NULL without a default).
 * Throws one error naming every disagreement: a drifted table fails the start, not a batch.
 *
 * @example
 * await checkTables(sql, domains);
 */
export async function checkTables(sql: Sql, domains: readonly Pick<Domain, 'rows'>[]): Promise<void> {
  const tables = domains.flatMap((domain) => domain.rows) as readonly (EntityTable | AppendTable)[];
  if (tables.length === 0) return;
  const { rows } = await sql.query<{ name: string; found: boolean; column: string | null; type: string | null; required: boolean | null }>(
    `SELECT t.name, c.oid IS NOT NULL AS found, col.column_name AS column, col.udt_name AS type,
            (col.is_nullable = 'NO' AND col.column_default IS NULL AND col.is_identity = 'NO' AND col.is_generated = 'NEVER') AS required
       FROM unnest($1::text[]) AS t(name)
       LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
       LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN information_schema.columns col ON col.table_schema = n.nspname AND col.table_name = c.relname`,
    [tables.map((table) => table.name)],
  );
  const problems: string[] = [];
  for (const table of tables) {
    const found = rows.filter((row) => row.name === table.name);
    if (!found.some((row) => row.found)) {
      problems.push(`table ${table.name} does not exist (run the domain's migrations)`);
      continue;
    }
    const inDatabase = new Map(found.filter((row) => row.column !== null).map((row) => [row.column!, row]));
    const described = new Set<string>();
    for (const [column, type] of Object.values(table.columns as Record<string, readonly [string, ColumnType]>)) {
      described.add(column);
      const actual = inDatabase.get(column);
      if (!actual) problems.push(`${table.name}.${column} does not exist in the database`);
      else if (!DATABASE_TYPES[type].includes(actual.type ?? ''))
        problems.push(`${table.name}.${column} is ${actual.type} in the database, ${type} in its drizzle table`);
    }
    if (table.kind === 'entity') for (const column of table.stamped) if (!inDatabase.has(column)) problems.push(`${table.name}.${column} does not exist in the database`);
    for (const [column, row] of inDatabase) {
      if (row.required && !described.has(column))
        problems.push(`${table.name}.${column} is NOT NULL without a default in the database, and its drizzle table does not write it`);
    }
  }
  if (problems.length > 0) throw new Error(`the domains' tables disagree with the database: ${problems.join('; ')}`);
}
