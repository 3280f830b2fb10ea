import { defineDomain, entityRead } from '../../core/domain.ts';
import { orderCommands } from './commands.ts';
import { readOrder } from './reads.ts';
import { orderRows } from './rows.ts';
import { OrderSchema } from './schemas.ts';
import { orders } from './table.ts';

/**
 * Orders: create, pay (debits the account), ship, complete, cancel (refunds a paid order); `GET /v1/orders/{id}`.
 * It names accounts, so it is served with the accounts domain.
 *
 * @example
 * await startSystem({ config, roles, log, domains: [accountsDomain, ordersDomain] });
 */
export const ordersDomain = defineDomain({
  name: 'orders',
  migrations: new URL('../../../migrations/reference/orders', import.meta.url),
  commands: orderCommands,
  tables: { orders },
  rows: [orderRows],
  reads: [entityRead({ collection: 'orders', name: 'order', schema: OrderSchema, read: readOrder })],
});
