// The application's tables, declared once, with drizzle: drizzle-kit generates their migration from this
// file (`npm run db:generate`, into migrations/), oncely derives its row descriptors from it (src/domain.ts)
// and the model's types are its rows (src/model.ts). test/drift.test.ts keeps this file and migrations/ in step.
import { sql } from 'drizzle-orm';
import { check, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

export const RESERVATION_STATUSES = ['RESERVED', 'RELEASED'] as const;
export type ReservationStatus = (typeof RESERVATION_STATUSES)[number];

export const ORDER_STATUSES = ['PLACED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
};

const oneOf = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(', '));

/** Stock per SKU: units on hand and units reserved by live reservations. */
export const stockItems = pgTable(
  'stock_items',
  {
    id: text('id').primaryKey(),
    onHand: integer('on_hand').notNull(),
    reserved: integer('reserved').notNull(),
    version: integer('version').notNull(),
    ...timestamps,
  },
  (t) => [check('stock_items_on_hand_check', sql`${t.onHand} >= 0`), check('stock_items_reserved_check', sql`${t.reserved} >= 0 AND ${t.reserved} <= ${t.onHand}`)],
);

/** The shop's orders: written by the shop's own HTTP handler, in the same transaction as its commands. */
export const shopOrders = pgTable(
  'shop_orders',
  {
    id: text('id').primaryKey(),
    sku: text('sku').notNull(),
    quantity: integer('quantity').notNull(),
    status: text('status').$type<OrderStatus>().notNull(),
    version: integer('version').notNull(),
    ...timestamps,
  },
  (t) => [check('shop_orders_status_check', sql`${t.status} IN (${oneOf(ORDER_STATUSES)})`)],
);

export const reservations = pgTable(
  'reservations',
  {
    id: text('id').primaryKey(),
    orderId: text('order_id')
      .notNull()
      .references(() => shopOrders.id),
    sku: text('sku')
      .notNull()
      .references(() => stockItems.id),
    quantity: integer('quantity').notNull(),
    status: text('status').$type<ReservationStatus>().notNull(),
    version: integer('version').notNull(),
    ...timestamps,
  },
  (t) => [
    check('reservations_quantity_check', sql`${t.quantity} > 0`),
    check('reservations_status_check', sql`${t.status} IN (${oneOf(RESERVATION_STATUSES)})`),
    // The business key: at most one live reservation per order, whatever the command ids. The reserve
    // command's lock on the order is what serialises reservations; this index is the last line of defence.
    uniqueIndex('reservations_one_live_per_order')
      .on(t.orderId)
      .where(sql`${t.status} = 'RESERVED'`),
  ],
);
