// oncely's own tables, in a schema of their own (src/db/engine-schema.ts). `engineTables(name)` gives them in
// any schema; the instances below are in the default one: drizzle-kit generates migrations/engine/ from them
// (the schema name is substituted when a migration is applied), and the row types come from them.
// Each domain's tables live in its own folder with its own migrations (defineDomain's `migrations`).
import type { Table } from 'drizzle-orm';
import { pgSchema } from 'drizzle-orm/pg-core';
import { commandsTable } from './commands-table.ts';
import { DEFAULT_SCHEMA } from './engine-schema.ts';
import { outboxEventsTable } from './outbox-table.ts';

/**
 * oncely's tables in the schema `name`, as drizzle tables (for the query builder).
 *
 * @example
 * const { commands } = engineTables('billing_oncely');
 * await db.select().from(commands).where(eq(commands.status, 'dead'));
 */
export function engineTables(name: string) {
  const schema = pgSchema(name);
  return { commands: commandsTable(schema), outboxEvents: outboxEventsTable(schema) };
}

export const oncely = pgSchema(DEFAULT_SCHEMA);
export const commands = commandsTable(oncely);
export const outboxEvents = outboxEventsTable(oncely);

type ColumnsOf<T extends Table> = T['_']['columns'];

/**
 * A row of `T` as raw SQL returns it: keyed by column name (`client_id`), each value typed by drizzle's
 * inferred select model, so a row type is never written out by hand.
 */
export type SqlRow<T extends Table> = { [K in keyof ColumnsOf<T> as ColumnsOf<T>[K]['_']['name']]: T['$inferSelect'][K & keyof T['$inferSelect']] };

/** A `commands` row as raw SQL returns it. */
export type CommandRow = SqlRow<typeof commands>;

/** An `outbox_events` row as raw SQL returns it. */
export type OutboxEventRow = SqlRow<typeof outboxEvents>;
