// A user's imperative handler: its own SQL, one command at a time (the processor's per-command path).
import type { Sql } from '../../src/core/command.ts';
import type { Command } from '../../src/core/envelope.ts';
import { notFound, succeeded, type Outcome } from '../../src/core/outcome.ts';
import { credit, type Account } from '../../src/domains/accounts/model.ts';
import { accountRows } from '../../src/domains/accounts/rows.ts';
import { int } from '../../src/processor/entity.ts';
import { versionedUpdate } from '../../src/processor/sql.ts';

/**
 * Credits an account the way a hand-written handler would: lock, decide with the model, write the state the
 * decision returned (versioned UPDATE), ledger row.
 */
export async function creditWithSql(sql: Sql, command: Command<{ amount: number }>): Promise<Outcome> {
  const { rows } = await sql.query<{ currency: string; balance: string; version: number }>(
    'SELECT currency, balance, version FROM accounts WHERE id = $1 FOR NO KEY UPDATE',
    [command.entityId],
  );
  const row = rows[0];
  if (!row) return notFound('account', command.entityId);
  const current: Account = { id: command.entityId, currency: row.currency, balance: int(row.balance), version: row.version };
  const decision = credit(current, command.payload.amount);
  if (!decision.ok) return decision.outcome;
  const { balance } = decision.state;
  const version = await versionedUpdate(sql, accountRows, current.id, current.version, { balance });
  await sql.query('INSERT INTO ledger_entries (account_id, client_id, command_id, amount, balance_after) VALUES ($1, $2, $3, $4, $5)', [
    current.id,
    command.clientId,
    command.id,
    balance - current.balance,
    balance,
  ]);
  return succeeded({ balance, version });
}
