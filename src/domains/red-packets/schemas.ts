// The wire shape of red packets (see accounts/schemas.ts). The statuses come from the model, written once.
import { z } from 'zod';
import { EntityStamps } from '../../core/domain.ts';
import { RED_PACKET_STATUSES } from './model.ts';

export const RedPacketSchema = z
  .object({
    id: z.string(),
    orderId: z.string(),
    accountId: z.string(),
    amount: z.number().int(),
    status: z.enum(RED_PACKET_STATUSES),
    ...EntityStamps,
  })
  .meta({ id: 'RedPacket' });

export type RedPacketView = z.infer<typeof RedPacketSchema>;
