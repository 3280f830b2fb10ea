// How the processor locks and writes orders (see src/core/table.ts).
import { entityTable } from '../../core/table.ts';
import type { Entity } from '../../processor/entity.ts';
import type { Order } from './model.ts';

/** Orders are locked before accounts (an order names its account) and after red packets (which name their order). */
export const orderRows = entityTable<Order>({
  name: 'orders',
  lockOrder: 20,
  columns: { accountId: ['account_id', 'text'], amount: ['amount', 'bigint'], status: ['status', 'text'] },
});

export const order: Entity<Order> = { table: orderRows, name: 'order' };
