// The drizzle view of the tables migrations/0001_stock.sql creates: for the shop's own queries and the reads.
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import type { OrderStatus, ReservationStatus } from './model.ts';

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
};

export const stockItems = pgTable('stock_items', {
  id: text('id').primaryKey(),
  onHand: integer('on_hand').notNull(),
  reserved: integer('reserved').notNull(),
  version: integer('version').notNull(),
  ...timestamps,
});

export const shopOrders = pgTable('shop_orders', {
  id: text('id').primaryKey(),
  sku: text('sku').notNull(),
  quantity: integer('quantity').notNull(),
  status: text('status').$type<OrderStatus>().notNull(),
  version: integer('version').notNull(),
  ...timestamps,
});

export const reservations = pgTable('reservations', {
  id: text('id').primaryKey(),
  orderId: text('order_id').notNull(),
  sku: text('sku').notNull(),
  quantity: integer('quantity').notNull(),
  status: text('status').$type<ReservationStatus>().notNull(),
  version: integer('version').notNull(),
  ...timestamps,
});
