// The wire shape of orders (see accounts/schemas.ts). The statuses come from the model, written once.
import { z } from 'zod';
import { EntityStamps } from '../../core/domain.ts';
import { ORDER_STATUSES } from './model.ts';

export const OrderSchema = z
  .object({
    id: z.string(),
    accountId: z.string(),
    amount: z.number().int(),
    status: z.enum(ORDER_STATUSES),
    ...EntityStamps,
  })
  .meta({ id: 'Order' });

export type OrderView = z.infer<typeof OrderSchema>;
