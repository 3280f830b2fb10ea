// A domain's drizzle table is checked against the database once, at start: a table or column that is
// missing, a column of another type, or a NOT NULL column the processor would never write fails the start
// with one error naming each, instead of failing batches later. A table that agrees starts.
import { bigint, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { defineDomain } from '../../src/core/domain.ts';
import { succeeded } from '../../src/core/outcome.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { appendTable, entityTable } from '../../src/processor/descriptors.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startTestSystem } from '../helpers/system.ts';

const DDL = `
CREATE TABLE chk_items (id text PRIMARY KEY, on_hand integer NOT NULL, version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE chk_notes (seq bigserial PRIMARY KEY, item_id text NOT NULL, body text NOT NULL, author text NOT NULL);`;

const timestamps = { updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow() };
const noop = defineCommand({ type: 'chk.noop', summary: 'Nothing.', payload: z.strictObject({}), plan: () => ({ lock: [] }), decide: () => succeeded(null) });
const domainOf = (rows: Parameters<typeof defineDomain>[0]['rows']) => defineDomain({ name: 'chk', commands: [noop], tables: {}, rows, reads: [] });

const db = useTestDatabase();
beforeAll(async () => {
  await db.pool.query(DDL);
});

describe('tables checked at start', () => {
  it('starts when the drizzle tables agree with the database', async () => {
    const items = pgTable('chk_items', { id: text('id').primaryKey(), onHand: integer('on_hand').notNull(), version: integer('version').notNull(), ...timestamps });
    const system = await startTestSystem(db.url, {
      roles: { api: false, worker: false },
      domains: [...referenceDomains, domainOf([entityTable(items, { lockOrder: 901 })])],
    });
    await system.stop();
  });

  it('refuses to start on a drifted table, naming every disagreement', async () => {
    // on_hand is integer in the database; a missing column; a missing table; a NOT NULL column never written.
    const items = pgTable('chk_items', {
      id: text('id').primaryKey(),
      onHand: bigint('on_hand', { mode: 'number' }).notNull(),
      reserved: integer('reserved').notNull(),
      version: integer('version').notNull(),
      ...timestamps,
    });
    const gone = pgTable('chk_gone', { id: text('id').primaryKey(), version: integer('version').notNull() });
    const notes = pgTable('chk_notes', { itemId: text('item_id').notNull(), body: text('body').notNull() });
    const domains = [...referenceDomains, domainOf([entityTable(items, { lockOrder: 901 }), entityTable(gone, { lockOrder: 902 }), appendTable(notes)])];
    await expect(startTestSystem(db.url, { roles: { api: false, worker: false }, domains })).rejects.toThrow(
      "the domains' tables disagree with the database: chk_items.on_hand is int4 in the database, bigint in its drizzle table; " +
        'chk_items.reserved does not exist in the database; ' +
        "table chk_gone does not exist (run the domain's migrations); " +
        'chk_notes.author is NOT NULL without a default in the database, and its drizzle table does not write it',
    );
  });
});
