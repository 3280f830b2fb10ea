// A user's imperative handler: its own SQL, one command at a time (the processor's per-command path).
import type { Sql } from '../../src/core/command.ts';
import type { Command } from '../../src/core/envelope.ts';
import { notFound, succeeded, type Outcome } from '../../src/core/outcome.ts';
import { int } from '../../src/processor/entity.ts';
import { versionedUpdate } from '../../src/processor/sql.ts';

/** Credits an account the way a hand-written handler would: lock, versioned UPDATE, ledger row. */
export async function creditWithSql(sql: Sql, command: Command<{ amount: number }>): Promise<Outcome> {
  const { rows } = await sql.query<{ balance: string; version: number }>('SELECT balance, version FROM accounts WHERE id = $1 FOR NO KEY UPDATE', [command.entityId]);
  const row = rows[0];
  if (!row) return notFound('account', command.entityId);
  const balance = int(row.balance) + command.payload.amount;
  const version = await versionedUpdate(sql, 'accounts', command.entityId, row.version, { balance });
  await sql.query('INSERT INTO ledger_entries (account_id, client_id, command_id, amount, balance_after) VALUES ($1, $2, $3, $4, $5)', [
    command.entityId,
    command.clientId,
    command.id,
    command.payload.amount,
    balance,
  ]);
  return succeeded({ balance, version });
}
