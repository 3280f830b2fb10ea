import type { Sql } from '../../core/command.ts';
import { int, type EntityStore } from '../../processor/entity.ts';
import { versionedUpdate } from '../../processor/sql.ts';
import type { Account } from './model.ts';

interface AccountRow {
  id: string;
  currency: string;
  balance: string | number;
  version: number;
}

const toAccount = (row: AccountRow): Account => ({ id: row.id, currency: row.currency, balance: int(row.balance), version: row.version });

/**
 * Locks accounts in id order. Every command that touches two accounts goes through here, so two
 * opposite transfers always lock in the same order and cannot deadlock.
 */
export async function lockAccounts(sql: Sql, ids: readonly string[]): Promise<Map<string, Account>> {
  const { rows } = await sql.query<AccountRow>(
    'SELECT id, currency, balance, version FROM accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE',
    [[...new Set(ids)]],
  );
  return new Map(rows.map((row) => [row.id, toAccount(row)]));
}

/**
 * Locks the account another entity (an order, a red packet) points at. Its foreign key makes a missing
 * account unreachable; if it happens the data is broken, not the request, so it throws.
 */
export async function lockReferencedAccount(sql: Sql, accountId: string, owner: string): Promise<Account> {
  const account = (await lockAccounts(sql, [accountId])).get(accountId);
  if (!account) throw new Error(`${owner} refers to missing account ${accountId}`);
  return account;
}

export const accountStore: EntityStore<Account> = {
  name: 'account',
  async lock(sql, id) {
    return (await lockAccounts(sql, [id])).get(id) ?? null;
  },
  save: (sql, next, previousVersion) => versionedUpdate(sql, 'accounts', next.id, previousVersion, { balance: next.balance }),
};

/** Creates an account; null when the id is taken. */
export async function insertAccount(sql: Sql, id: string, currency: string): Promise<Account | null> {
  const { rows } = await sql.query<AccountRow>(
    `INSERT INTO accounts (id, currency, balance, version) VALUES ($1, $2, 0, 1)
     ON CONFLICT (id) DO NOTHING RETURNING id, currency, balance, version`,
    [id, currency],
  );
  return rows[0] ? toAccount(rows[0]) : null;
}

export async function accountVersion(sql: Sql, id: string): Promise<number | null> {
  const { rows } = await sql.query<{ version: number }>('SELECT version FROM accounts WHERE id = $1', [id]);
  return rows[0]?.version ?? null;
}

// The ledger row is unique on (client, command, account): a command can move an account's money once.
export async function appendLedger(
  sql: Sql,
  entry: { accountId: string; clientId: string; commandId: string; amount: number; balanceAfter: number },
): Promise<void> {
  await sql.query(
    `INSERT INTO ledger_entries (account_id, client_id, command_id, amount, balance_after) VALUES ($1, $2, $3, $4, $5)`,
    [entry.accountId, entry.clientId, entry.commandId, entry.amount, entry.balanceAfter],
  );
}

/**
 * Moves an account's balance by `amount` (signed) as part of another entity's command (an order paid,
 * a red packet paid): locked, versioned, and written to the ledger.
 */
export async function postToAccount(
  sql: Sql,
  command: { clientId: string; id: string },
  account: Account,
  amount: number,
): Promise<Account> {
  const balance = account.balance + amount;
  const version = await versionedUpdate(sql, 'accounts', account.id, account.version, { balance });
  await appendLedger(sql, { accountId: account.id, clientId: command.clientId, commandId: command.id, amount, balanceAfter: balance });
  return { ...account, balance, version };
}
