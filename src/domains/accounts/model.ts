import { accept, refuse, type Decision } from '../../core/outcome.ts';
import type { RowOf } from '../../core/table.ts';
import type { accounts } from './table.ts';

/** An account as decisions see it: its table's row (`{ id, currency, balance, version }`). */
export type Account = RowOf<typeof accounts>;

/** Balances stay below 2^53 so they remain exact JavaScript integers. */
export const MAX_BALANCE = Number.MAX_SAFE_INTEGER;

export function credit(account: Account, amount: number): Decision<Account> {
  if (account.balance + amount > MAX_BALANCE) {
    return refuse('balance_limit', `account ${account.id} cannot hold more than ${MAX_BALANCE}`, { balance: account.balance, amount });
  }
  return accept({ ...account, balance: account.balance + amount });
}

export function debit(account: Account, amount: number): Decision<Account> {
  if (account.balance < amount) {
    return refuse('insufficient_funds', `account ${account.id} holds ${account.balance}, ${amount} needed`, {
      accountId: account.id,
      balance: account.balance,
      amount,
    });
  }
  return accept({ ...account, balance: account.balance - amount });
}

export function transfer(from: Account, to: Account, amount: number): Decision<{ from: Account; to: Account }> {
  if (from.id === to.id) return refuse('same_account', 'cannot transfer to the same account');
  if (from.currency !== to.currency) {
    return refuse('currency_mismatch', `${from.id} holds ${from.currency}, ${to.id} holds ${to.currency}`, {
      from: from.currency,
      to: to.currency,
    });
  }
  const debited = debit(from, amount);
  if (!debited.ok) return debited;
  const credited = credit(to, amount);
  if (!credited.ok) return credited;
  return accept({ from: debited.state, to: credited.state });
}
