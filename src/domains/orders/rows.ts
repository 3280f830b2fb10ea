// How the processor locks and writes orders: derived from their drizzle table.
import { entityTable } from '../../processor/descriptors.ts';
import type { Entity } from '../../processor/entity.ts';
import type { Order } from './model.ts';
import { orders } from './table.ts';

export type { Order };

/** Orders are locked before accounts (an order names its account) and after red packets (which name their order). */
export const orderRows = entityTable(orders, { lockOrder: 20 });

export const order: Entity<Order> = { table: orderRows, name: 'order' };
