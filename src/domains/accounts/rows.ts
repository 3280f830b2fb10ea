// How the processor locks, reads and writes accounts and the ledger: derived from their drizzle tables.
import type { BatchState } from '../../core/command.ts';
import type { RowOf } from '../../core/table.ts';
import { appendTable, entityTable } from '../../processor/descriptors.ts';
import type { Entity } from '../../processor/entity.ts';
import type { Account } from './model.ts';
import { accounts, ledgerEntries } from './table.ts';

export type { Account };

/** Accounts come last in the lock order: orders and red packets name the account they move money on. */
export const accountRows = entityTable(accounts, { lockOrder: 30 });

export const account: Entity<Account> = { table: accountRows, name: 'account' };

// The ledger row is unique on (client, command, account): a command can move an account's money once.
// Its seq and created_at are the database's.
export const ledgerRows = appendTable(ledgerEntries);

/** A ledger row as the processor appends it. */
export type LedgerEntry = RowOf<typeof ledgerRows>;

/**
 * Writes an account's next state, decided elsewhere, the ledger row for the change, and the event that
 * announces it (`account.credited` or `account.debited`): every balance change of every command goes
 * through here, so every one is published (docs/outbox.md).
 */
export function postToAccount(state: BatchState, command: { clientId: string; id: string }, previous: Account, next: Account): Account {
  const saved = state.update(accountRows, next);
  state.append(ledgerRows, {
    accountId: saved.id,
    clientId: command.clientId,
    commandId: command.id,
    amount: next.balance - previous.balance,
    balanceAfter: saved.balance,
  });
  const amount = next.balance - previous.balance;
  if (amount !== 0) {
    state.emit({
      type: amount > 0 ? 'account.credited' : 'account.debited',
      entityId: saved.id,
      payload: { amount: Math.abs(amount), currency: saved.currency, balance: saved.balance, version: saved.version },
    });
  }
  return saved;
}

/** The account another entity names; its foreign key makes a missing one a bug, not a refusal. */
export function referencedAccount(state: BatchState, accountId: string, owner: string): Account {
  const found = state.get(accountRows, accountId);
  if (!found) throw new Error(`${owner} refers to missing account ${accountId}`);
  return found;
}
