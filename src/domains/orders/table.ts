import { sql } from 'drizzle-orm';
import { bigint, check, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { textIn } from '../../db/checks.ts';
import { accounts } from '../accounts/table.ts';
import { ORDER_STATUSES, type OrderStatus } from './model.ts';

export const orders = pgTable(
  'orders',
  {
    id: text('id').primaryKey(),
    accountId: text('account_id')
      .notNull()
      .references(() => accounts.id),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    status: text('status').$type<OrderStatus>().notNull(),
    version: integer('version').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [check('orders_amount_check', sql`${t.amount} > 0`), check('orders_status_check', textIn(t.status, ORDER_STATUSES))],
);
