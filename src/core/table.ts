// Table descriptors: what the set-based processor needs to lock, read and write a table's rows in one
// statement per table. Pure data, made from a drizzle table by entityTable/appendTable
// (src/processor/descriptors.ts); the SQL is built from them in src/processor/tables.ts. The drizzle import
// below is types only: the row type of a descriptor is derived from the table's own column types.
import type { PgTable } from 'drizzle-orm/pg-core';

/** The column types a descriptor can hold; each maps to a PostgreSQL array type for `unnest`. */
export type ColumnType = 'text' | 'bigint' | 'integer' | 'jsonb' | 'boolean' | 'uuid' | 'timestamptz';

/** Property -> [SQL column, type]: the columns the processor reads and writes. */
export type Columns<R> = { readonly [K in keyof R]-?: readonly [column: string, type: ColumnType] };

/** A row of an entity table: a text id and a version bumped by every change. */
export interface Versioned {
  id: string;
  version: number;
}

/**
 * A table of versioned entities: a text primary key `id` and an integer `version`. `lockOrder` places it
 * in the one lock order every batch follows (lower first, unique among the tables served together); a
 * command may lock rows of a later table named by rows of an earlier one (an order names its account),
 * never the reverse. Made by `entityTable`.
 */
export interface EntityTable<R extends Versioned = Versioned> {
  readonly kind: 'entity';
  /** The table as SQL names it: `stock_items`, or `shop.stock_items` for a table of a pgSchema. */
  readonly name: string;
  readonly lockOrder: number;
  readonly columns: Columns<R>;
  /** Timestamp columns the database fills that every UPDATE sets to now() (`updated_at`). */
  readonly stamped: readonly string[];
}

/** An append-only table (a ledger): rows are only ever inserted. Made by `appendTable`. */
export interface AppendTable<R = Record<string, unknown>> {
  readonly kind: 'append';
  readonly name: string;
  readonly columns: Columns<R>;
}

type SerialType = 'PgSerial' | 'PgSmallSerial' | 'PgBigSerial53' | 'PgBigSerial64';
type TimeType = 'PgTimestamp' | 'PgTimestampString' | 'PgDate' | 'PgDateString' | 'PgTime';

/**
 * Whether the database fills a column (so the processor leaves it out unless told otherwise): serials,
 * identity and generated columns, and dates and times with a default (`created_at ... DEFAULT now()`).
 */
type FilledByDatabase<C> = C extends { _: { columnType: SerialType } }
  ? true
  : C extends { _: { identity: 'always' | 'byDefault' } }
    ? true
    : C extends { _: { generated: { type: 'always' } } }
      ? true
      : C extends { _: { columnType: TimeType; hasDefault: true } }
        ? true
        : false;

type ColumnsOf<T extends PgTable> = T['_']['columns'];

/**
 * The row the processor reads and writes of a drizzle table: its select model without the columns the
 * database fills, except those named in `Include`.
 */
export type TableRow<T extends PgTable, Include extends string = never> = {
  [K in keyof ColumnsOf<T> & keyof T['$inferSelect'] as K extends Include ? K : FilledByDatabase<ColumnsOf<T>[K]> extends true ? never : K]: T['$inferSelect'][K];
};

/** The row of an entity table: its TableRow, which must hold a text `id` and an integer `version` (never otherwise). */
export type EntityRow<T extends PgTable, Include extends string = never> = TableRow<T, Include> extends infer R extends Versioned ? R : never;

/**
 * The row type of a descriptor or of a drizzle table, as decisions see it: every column but the ones
 * the database fills (timestamps with a default, serials). Write a model's type once, as its table.
 *
 * @example
 * export type StockItem = RowOf<typeof stockItems>; // { id: string; onHand: number; reserved: number; version: number }
 */
export type RowOf<T> = T extends EntityTable<infer R> ? R : T extends AppendTable<infer R> ? R : T extends PgTable ? TableRow<T> : never;

/** A row to lock: its table and id. Rows that do not exist yet are named too (a creation's key). */
export interface RowKey {
  readonly table: EntityTable;
  readonly id: string;
}

/**
 * Names a row to lock.
 *
 * @example
 * plan: (command) => ({ lock: [rowKey(accountRows, command.entityId)] })
 */
export function rowKey<R extends Versioned>(table: EntityTable<R>, id: string): RowKey {
  return { table, id };
}

/** Rows found by a column value, read (not locked) after every lock is held: e.g. an order's live red packets. */
export interface Lookup {
  readonly table: EntityTable;
  /** The row property compared, and its SQL column. */
  readonly property: string;
  readonly column: string;
  readonly value: string;
}

/**
 * Rows of `table` whose `property` equals `value`, read after every lock is held.
 *
 * @example
 * plan: (command) => ({ lock: [rowKey(orderRows, command.payload.orderId)], lookups: [lookup(redPacketRows, 'orderId', command.payload.orderId)] })
 */
export function lookup<R extends Versioned>(table: EntityTable<R>, property: keyof R & string, value: string): Lookup {
  const column = table.columns[property][0];
  return { table: table, property, column, value };
}
