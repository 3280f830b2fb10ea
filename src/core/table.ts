// Table descriptors: what the set-based processor needs to lock, read and write a table's rows in one
// statement per table. Pure data; the SQL is built from them in src/processor/tables.ts.

/** The column types a descriptor can name; each maps to a PostgreSQL array type for `unnest`. */
export type ColumnType = 'text' | 'bigint' | 'integer' | 'jsonb' | 'boolean';

export type Columns<R> = { readonly [K in keyof R]-?: readonly [column: string, type: ColumnType] };

/** A row of an entity table: a text id and a version bumped by every change. */
export interface Versioned {
  id: string;
  version: number;
}

/**
 * A table of versioned entities: a text primary key `id`, an integer `version` and an `updated_at`
 * timestamp (the set UPDATE stamps it). `lockOrder` places it in the one global lock order every batch
 * follows (lower first, unique per table); a command may lock rows of a later table named by rows of an
 * earlier one (an order names its account), never the reverse.
 */
export interface EntityTable<R extends Versioned = Versioned> {
  readonly kind: 'entity';
  readonly name: string;
  readonly lockOrder: number;
  readonly columns: Columns<R>;
}

/** An append-only table (a ledger): rows are only ever inserted. */
export interface AppendTable<R = Record<string, unknown>> {
  readonly kind: 'append';
  readonly name: string;
  readonly columns: Columns<R>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function checkNames(name: string, columns: Record<string, readonly [string, ColumnType]>): void {
  for (const identifier of [name, ...Object.values(columns).map(([column]) => column)]) {
    if (!IDENTIFIER.test(identifier)) throw new Error(`${identifier} is not a plain SQL identifier`);
  }
}

/**
 * Describes an entity table. `id` and `version` are implied; name every other column the processor reads
 * and writes.
 *
 * @example
 * const accounts = entityTable<Account>({ name: 'accounts', lockOrder: 30, columns: { currency: ['currency', 'text'], balance: ['balance', 'bigint'] } });
 */
export function entityTable<R extends Versioned>(definition: { name: string; lockOrder: number; columns: Columns<Omit<R, 'id' | 'version'>> }): EntityTable<R> {
  const columns = { ...definition.columns, id: ['id', 'text'], version: ['version', 'integer'] } as unknown as Columns<R>;
  checkNames(definition.name, columns);
  return { kind: 'entity', name: definition.name, lockOrder: definition.lockOrder, columns };
}

/**
 * Describes an append-only table.
 *
 * @example
 * const ledger = appendTable<LedgerEntry>({ name: 'ledger_entries', columns: { accountId: ['account_id', 'text'], amount: ['amount', 'bigint'] } });
 */
export function appendTable<R>(definition: { name: string; columns: Columns<R> }): AppendTable<R> {
  checkNames(definition.name, definition.columns);
  return { kind: 'append', name: definition.name, columns: definition.columns };
}

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
  return { table, column, value };
}
