import { defineDomain, entityRead, pageRead } from '../../core/domain.ts';
import { accountCommands } from './commands.ts';
import { readAccount, readLedger } from './reads.ts';
import { accountRows, ledgerRows } from './rows.ts';
import { AccountSchema, LedgerPageSchema } from './schemas.ts';
import { accounts, ledgerEntries } from './table.ts';

/**
 * Accounts and their ledger: open, credit, debit, transfer; `GET /v1/accounts/{id}` and its ledger pages.
 *
 * @example
 * await startSystem({ config, roles, log, domains: [accountsDomain] });
 */
export const accountsDomain = defineDomain({
  name: 'accounts',
  migrations: new URL('../../../migrations/reference/accounts', import.meta.url),
  commands: accountCommands,
  tables: { accounts, ledgerEntries },
  rows: [accountRows, ledgerRows],
  reads: [
    entityRead({ collection: 'accounts', name: 'account', schema: AccountSchema, read: readAccount }),
    pageRead({
      collection: 'accounts',
      path: 'ledger',
      name: 'account',
      operationId: 'getLedger',
      summary: "Read an account's ledger",
      description: 'A page of ledger entries.',
      schema: LedgerPageSchema,
      limit: { max: 1000, fallback: 100 },
      read: readLedger,
    }),
  ],
});
