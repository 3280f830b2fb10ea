// One declaration per table: a descriptor is derived from its drizzle table. What the processor reads and
// writes comes from drizzle's own column metadata; what it cannot serve is an error at declaration.
import { sql } from 'drizzle-orm';
import { bigint, bigserial, integer, jsonb, numeric, pgSchema, pgTable, text, timestamp, uuid, varchar } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { accountRows, ledgerRows } from '../../src/domains/accounts/rows.ts';
import { orderRows } from '../../src/domains/orders/rows.ts';
import { appendTable, entityTable } from '../../src/processor/descriptors.ts';

const version = integer('version').notNull();

describe('entityTable and appendTable from a drizzle table', () => {
  it('derives the columns of the reference tables, leaving the timestamps and serials to the database', () => {
    expect(accountRows).toEqual({
      kind: 'entity',
      name: 'accounts',
      lockOrder: 30,
      columns: { id: ['id', 'text'], currency: ['currency', 'text'], balance: ['balance', 'bigint'], version: ['version', 'integer'] },
      stamped: ['updated_at'],
    });
    expect(orderRows.columns).toEqual({
      id: ['id', 'text'],
      accountId: ['account_id', 'text'],
      amount: ['amount', 'bigint'],
      status: ['status', 'text'],
      version: ['version', 'integer'],
    });
    expect(ledgerRows).toEqual({
      kind: 'append',
      name: 'ledger_entries',
      columns: {
        accountId: ['account_id', 'text'],
        clientId: ['client_id', 'text'],
        commandId: ['command_id', 'text'],
        amount: ['amount', 'bigint'],
        balanceAfter: ['balance_after', 'bigint'],
      },
    });
  });

  it('reads a timestamp the database fills when it is listed in include, and keeps other types exact', () => {
    const holds = pgTable('holds', {
      id: text('id').primaryKey(),
      owner: uuid('owner').notNull(),
      note: varchar('note', { length: 40 }),
      data: jsonb('data').$type<{ tags: string[] }>().notNull(),
      version,
      expiresAt: timestamp('expires_at', { withTimezone: true })
        .notNull()
        .default(sql`now() + interval '1 day'`),
      updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
    });
    const rows = entityTable(holds, { lockOrder: 3, include: ['expiresAt'] });
    expect(rows.columns).toEqual({
      id: ['id', 'text'],
      owner: ['owner', 'uuid'],
      note: ['note', 'text'],
      data: ['data', 'jsonb'],
      version: ['version', 'integer'],
      expiresAt: ['expires_at', 'timestamptz'],
    });
    expect(rows.stamped).toEqual(['updated_at']);
  });

  it('names a table of a pgSchema as SQL does', () => {
    const shop = pgSchema('shop');
    const items = shop.table('items', { id: text('id').primaryKey(), version });
    expect(entityTable(items, { lockOrder: 1 }).name).toBe('shop.items');
  });

  it('refuses, at declaration, what the processor cannot serve', () => {
    const noVersion = pgTable('no_version', { id: text('id').primaryKey(), total: integer('total').notNull() });
    expect(() => entityTable(noVersion, { lockOrder: 1 })).toThrow("entityTable(no_version): needs an integer version: version: integer('version').notNull()");
    const numericId = pgTable('numeric_id', { id: integer('id').primaryKey(), version });
    expect(() => entityTable(numericId, { lockOrder: 1 })).toThrow("entityTable(numeric_id): needs a text primary key id: id: text('id').primaryKey()");
    const exactBigint = pgTable('exact', { id: text('id').primaryKey(), total: bigint('total', { mode: 'bigint' }).notNull(), version });
    expect(() => entityTable(exactBigint, { lockOrder: 1 })).toThrow(
      "entityTable(exact): exact.total is a bigint in mode 'bigint': declare it bigint('total', { mode: 'number' }) (values stay exact integers below 2^53)",
    );
    const money = pgTable('money', { id: text('id').primaryKey(), price: numeric('price').notNull(), version });
    expect(() => entityTable(money, { lockOrder: 1 })).toThrow(/entityTable\(money\): money\.price is a numeric \(PgNumeric\): oncely reads and writes text, varchar/);
    const camel = pgTable('camel', { id: text('id').primaryKey(), onHand: integer().notNull(), version });
    expect(() => entityTable(camel, { lockOrder: 1 })).toThrow(
      'entityTable(camel): column "onHand" is not a plain lower-case SQL identifier: give it one in its builder, e.g. "on_hand"',
    );
    const ledger = pgTable('ledger', { seq: bigserial('seq', { mode: 'number' }).primaryKey(), amount: integer('amount').notNull() });
    expect(() => appendTable(ledger, { include: ['seq'] })).toThrow(
      'appendTable(ledger): ledger.seq is filled by the database (serial, identity or generated): leave it out of include',
    );
    expect(() => entityTable(pgTable('two', { id: text('id').primaryKey(), version }), { lockOrder: 1.5 })).toThrow(
      'entityTable(two): lockOrder must be an integer, not 1.5',
    );
  });
});
