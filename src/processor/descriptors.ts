// A table is declared once, with drizzle: its descriptor (what the processor locks, reads and writes) is
// derived from the drizzle table's own column metadata, and its row type from the table's select model
// (RowOf in src/core/table.ts). Everything a descriptor cannot serve is an error here, at declaration, and
// a descriptor that disagrees with the database is an error at start (checkTables in ./tables.ts).
import { getTableColumns } from 'drizzle-orm';
import { getTableConfig, type PgColumn, type PgTable } from 'drizzle-orm/pg-core';
import type { AppendTable, ColumnType, Columns, EntityRow, EntityTable, TableRow } from '../core/table.ts';

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const SERIAL = new Set(['PgSerial', 'PgSmallSerial', 'PgBigSerial53', 'PgBigSerial64']);
const TIME = new Set(['PgTimestamp', 'PgTimestampString', 'PgDate', 'PgDateString', 'PgTime']);
const SUPPORTED = 'text, varchar, char, integer, bigint (mode: number), boolean, jsonb, uuid and timestamp with time zone (mode: date)';

interface Described {
  name: string;
  columns: Record<string, readonly [string, ColumnType]>;
  /** Timestamp columns the database fills: the set UPDATE stamps `updated_at` among them. */
  filledTimes: string[];
  byProperty: Map<string, PgColumn>;
}

/** The processor's type for a drizzle column, or (a sentence) why it has none. */
function columnTypeOf(column: PgColumn): string {
  switch (column.columnType) {
    case 'PgText':
    case 'PgVarchar':
    case 'PgChar':
      return 'text';
    case 'PgInteger':
      return 'integer';
    case 'PgBigInt53':
      return 'bigint';
    case 'PgBigInt64':
      return `a bigint in mode 'bigint': declare it bigint('${column.name}', { mode: 'number' }) (values stay exact integers below 2^53)`;
    case 'PgBoolean':
      return 'boolean';
    case 'PgJsonb':
      return 'jsonb';
    case 'PgUUID':
      return 'uuid';
    case 'PgTimestamp':
      return (column as unknown as { withTimezone: boolean }).withTimezone ? 'timestamptz' : `a ${column.getSQLType()}: oncely reads and writes ${SUPPORTED}`;
    default:
      return `a ${column.getSQLType()} (${column.columnType}): oncely reads and writes ${SUPPORTED}`;
  }
}

const isColumnType = (type: string): type is ColumnType => !type.includes(' ');

function describe(table: PgTable, what: string, include: readonly string[]): Described {
  const config = getTableConfig(table);
  const name = config.schema ? `${config.schema}.${config.name}` : config.name;
  const problems: string[] = [];
  for (const identifier of [config.name, ...(config.schema ? [config.schema] : [])]) {
    if (!IDENTIFIER.test(identifier)) problems.push(`${JSON.stringify(identifier)} is not a plain lower-case SQL identifier`);
  }
  const properties = Object.entries(getTableColumns(table)) as [string, PgColumn][];
  const known = new Set(properties.map(([property]) => property));
  for (const property of include) if (!known.has(property)) problems.push(`include names ${property}, which is no column of ${name}`);

  const columns: Record<string, readonly [string, ColumnType]> = {};
  const filledTimes: string[] = [];
  const byProperty = new Map<string, PgColumn>();
  for (const [property, column] of properties) {
    byProperty.set(property, column);
    const serial = SERIAL.has(column.columnType) || column.generatedIdentity !== undefined || column.generated !== undefined;
    const filledTime = TIME.has(column.columnType) && column.hasDefault;
    if (include.includes(property) && serial) problems.push(`${name}.${column.name} is filled by the database (serial, identity or generated): leave it out of include`);
    if (serial || (filledTime && !include.includes(property))) {
      if (filledTime) filledTimes.push(column.name);
      continue;
    }
    if (!IDENTIFIER.test(column.name)) {
      const suggestion = property.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      problems.push(`column ${JSON.stringify(column.name)} is not a plain lower-case SQL identifier: give it one in its builder, e.g. ${JSON.stringify(suggestion)}`);
      continue;
    }
    const type = columnTypeOf(column);
    if (!isColumnType(type)) problems.push(`${name}.${column.name} is ${type}`);
    else columns[property] = [column.name, type];
  }
  if (problems.length > 0) throw new Error(`${what}(${name}): ${problems.join('; ')}`);
  return { name, columns, filledTimes, byProperty };
}

/**
 * Describes an entity table from its drizzle table: a text primary key `id`, an integer `version`, and
 * `lockOrder`, its place in the one lock order of the tables served together (lower first: a table whose
 * rows name rows of another comes before it). The processor reads and writes every column except those
 * the database fills (serials, identity and generated columns, timestamps with a default), unless named
 * in `include`; an `updated_at` it leaves out is set to now() by every UPDATE. The row type is the
 * table's select model less those columns (`RowOf<typeof stockRows>`).
 *
 * @example
 * export const stockItems = pgTable('stock_items', { id: text('id').primaryKey(), onHand: integer('on_hand').notNull(), version: integer('version').notNull(), updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow() });
 * export const stockRows = entityTable(stockItems, { lockOrder: 130 });
 */
export function entityTable<T extends PgTable, const I extends readonly (keyof T['$inferSelect'] & string)[] = []>(
  table: T,
  options: { lockOrder: number; include?: I },
): EntityTable<EntityRow<T, I[number]>> {
  const { name, columns, filledTimes, byProperty } = describe(table, 'entityTable', options.include ?? []);
  const problems: string[] = [];
  const id = byProperty.get('id');
  if (!id || id.name !== 'id' || columns['id']?.[1] !== 'text' || !id.primary) problems.push(`needs a text primary key id: id: text('id').primaryKey()`);
  const version = byProperty.get('version');
  if (!version || version.name !== 'version' || columns['version']?.[1] !== 'integer' || !version.notNull) {
    problems.push(`needs an integer version: version: integer('version').notNull()`);
  }
  if (!Number.isSafeInteger(options.lockOrder)) problems.push(`lockOrder must be an integer, not ${String(options.lockOrder)}`);
  if (problems.length > 0) throw new Error(`entityTable(${name}): ${problems.join('; ')}`);
  return {
    kind: 'entity',
    name,
    lockOrder: options.lockOrder,
    columns: columns as unknown as Columns<EntityRow<T, I[number]>>,
    stamped: filledTimes.filter((column) => column === 'updated_at'),
  };
}

/**
 * Describes an append-only table (a ledger) from its drizzle table: rows are only ever inserted, with
 * every column but those the database fills (a bigserial key, a created_at with a default).
 *
 * @example
 * export const ledgerRows = appendTable(ledgerEntries);
 */
export function appendTable<T extends PgTable, const I extends readonly (keyof T['$inferSelect'] & string)[] = []>(
  table: T,
  options: { include?: I } = {},
): AppendTable<TableRow<T, I[number]>> {
  const { name, columns } = describe(table, 'appendTable', options.include ?? []);
  return { kind: 'append', name, columns: columns as unknown as Columns<TableRow<T, I[number]>> };
}
