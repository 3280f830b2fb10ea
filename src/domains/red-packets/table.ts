import { sql } from 'drizzle-orm';
import { bigint, check, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';
import { accounts } from '../accounts/table.ts';
import { textIn } from '../../db/checks.ts';
import { orders } from '../orders/table.ts';
import { RED_PACKET_STATUSES, type RedPacketStatus } from './model.ts';

export const redPackets = pgTable(
  'red_packets',
  {
    id: text('id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => orders.id),
    accountId: text('account_id')
      .notNull()
      .references(() => accounts.id),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    status: text('status').$type<RedPacketStatus>().notNull(),
    version: integer('version').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    check('red_packets_amount_check', sql`${t.amount} > 0`),
    check('red_packets_status_check', textIn(t.status, RED_PACKET_STATUSES)),
    // The business key: at most one live red packet per order, whatever the command ids.
    uniqueIndex('red_packets_one_live_per_order')
      .on(t.orderId)
      .where(sql`${t.status} <> 'CANCELLED'`),
  ],
);
