// The wire shapes of accounts: the HTTP routes answer with them, the OpenAPI document names them and the
// typed client parses with them. zod and core only, so the client can import them without the server.
import { z } from 'zod';
import { EntityStamps, pageSchema, Timestamp } from '../../core/domain.ts';

export const AccountSchema = z
  .object({ id: z.string(), currency: z.string(), balance: z.number().int(), ...EntityStamps })
  .meta({ id: 'Account', description: 'Balance in minor units (cents).' });

export const LedgerEntrySchema = z
  .object({
    commandId: z.string(),
    amount: z.number().int().describe('Signed minor units: credit positive, debit negative.'),
    balanceAfter: z.number().int(),
    createdAt: Timestamp,
  })
  .meta({ id: 'LedgerEntry' });

export const LedgerPageSchema = pageSchema(LedgerEntrySchema, {
  id: 'LedgerPage',
  description: 'Entries oldest first; pass `nextCursor` as `cursor` for the next page.',
});

export type AccountView = z.infer<typeof AccountSchema>;
export type LedgerEntryView = z.infer<typeof LedgerEntrySchema>;
export type LedgerPage = z.infer<typeof LedgerPageSchema>;
