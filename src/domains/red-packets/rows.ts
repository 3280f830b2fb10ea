// How the processor locks and writes red packets (see src/core/table.ts).
import { entityTable } from '../../core/table.ts';
import type { Entity } from '../../processor/entity.ts';
import type { RedPacket } from './model.ts';

/** Red packets come first in the lock order: they name an order and an account, which come later. */
export const redPacketRows = entityTable<RedPacket>({
  name: 'red_packets',
  lockOrder: 10,
  columns: { orderId: ['order_id', 'text'], accountId: ['account_id', 'text'], amount: ['amount', 'bigint'], status: ['status', 'text'] },
});

export const redPacket: Entity<RedPacket> = { table: redPacketRows, name: 'red packet' };
