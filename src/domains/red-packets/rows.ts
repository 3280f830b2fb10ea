// How the processor locks and writes red packets: derived from their drizzle table.
import { entityTable } from '../../processor/descriptors.ts';
import type { Entity } from '../../processor/entity.ts';
import type { RedPacket } from './model.ts';
import { redPackets } from './table.ts';

export type { RedPacket };

/** Red packets come first in the lock order: they name an order and an account, which come later. */
export const redPacketRows = entityTable(redPackets, { lockOrder: 10 });

export const redPacket: Entity<RedPacket> = { table: redPacketRows, name: 'red packet' };
