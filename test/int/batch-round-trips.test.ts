// Set-based application: a batch costs a small constant number of statements, whatever its size. Counted
// through the Sql seam, on a batch of 50 commands applied in one transaction.
import { describe, expect, it } from 'vitest';
import type { Sql } from '../../src/core/command.ts';
import { withTransaction, sqlOf } from '../../src/db/pool.ts';
import { createDefaultRegistry } from '../../src/domains/index.ts';
import type { Delivery } from '../../src/processor/apply.ts';
import { applyBatch } from '../../src/processor/batch.ts';
import type { NewCommand } from '../../src/processor/submit.ts';
import { useTestSystem } from '../helpers/fixture.ts';

// The api role alone: commands are stored and queued, and only this test applies them.
const { db, system } = useTestSystem({ roles: { api: true, worker: false } });

const command = (id: string, type: string, entityId: string, payload: object): NewCommand => ({ id, type, entityId, payload, expectedVersion: undefined });

function counting(sql: Sql): { sql: Sql; count: () => number } {
  let n = 0;
  return {
    sql: {
      query(text, values) {
        n++;
        return sql.query(text, values);
      },
    },
    count: () => n,
  };
}

async function applyDirectly(ids: readonly string[]): Promise<number> {
  const deliveries: Delivery[] = ids.map((id) => ({ clientId: 'anonymous', id, entityId: '', attempt: 1, lastAttempt: false }));
  return withTransaction(system.pool, async (client) => {
    const counter = counting(sqlOf(client));
    const settlements = await applyBatch(counter.sql, createDefaultRegistry(), deliveries, { schema: 'oncely', maxFailures: 5 });
    expect(settlements.every((s) => s.kind === 'complete')).toBe(true);
    return counter.count();
  });
}

describe('batch round trips', () => {
  it('applies 50 mixed commands over 10 accounts in at most 10 statements, with the same effects as one by one', async () => {
    const opens = Array.from({ length: 10 }, (_, i) => command(`rt-open-${i}`, 'account.open', `rt-${i}`, {}));
    const funds = Array.from({ length: 10 }, (_, i) => command(`rt-fund-${i}`, 'account.credit', `rt-${i}`, { amount: 1000 }));
    await system.commands.submit('anonymous', [...opens, ...funds]);
    // Opened and funded in one batch: each credit sees the account its open created moments before.
    expect(await applyDirectly([...opens, ...funds].map((c) => c.id))).toBeLessThanOrEqual(10);

    const mixed: NewCommand[] = [];
    for (let i = 0; i < 50; i++) {
      const account = `rt-${i % 10}`;
      if (i % 5 === 4) mixed.push(command(`rt-c-${i}`, 'account.transfer', account, { to: `rt-${(i + 3) % 10}`, amount: 5 }));
      else if (i % 7 === 6)
        mixed.push(command(`rt-c-${i}`, 'account.debit', account, { amount: 1_000_000 })); // refused: no such funds
      else mixed.push(command(`rt-c-${i}`, 'account.credit', account, { amount: 10 + i }));
    }
    await system.commands.submit('anonymous', mixed);
    const statements = await applyDirectly(mixed.map((c) => c.id));
    expect(statements).toBeLessThanOrEqual(10);

    const { rows: statuses } = await db.pool.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM oncely.commands WHERE id LIKE 'rt-c-%' GROUP BY status ORDER BY status`,
    );
    const refused = mixed.filter((c) => c.type === 'account.debit').length;
    expect(statuses).toEqual([
      { status: 'rejected', n: refused },
      { status: 'succeeded', n: 50 - refused },
    ]);
    // Every account's balance is the sum of its ledger, and each version counts its changes.
    const { rows } = await db.pool.query<{ id: string; balance: number; version: number; ledger: number; entries: number }>(
      `SELECT a.id, a.balance::int AS balance, a.version,
              coalesce(sum(l.amount), 0)::int AS ledger, count(l.seq)::int AS entries
       FROM accounts a LEFT JOIN ledger_entries l ON l.account_id = a.id
       WHERE a.id LIKE 'rt-%' GROUP BY a.id ORDER BY a.id`,
    );
    const credited = 10 * 1000 + mixed.filter((c) => c.type === 'account.credit').reduce((sum, c) => sum + (c.payload as { amount: number }).amount, 0);
    expect(rows.reduce((sum, r) => sum + r.balance, 0)).toBe(credited);
    for (const row of rows) {
      expect(row.balance).toBe(row.ledger);
      expect(row.version).toBe(1 + row.entries);
    }
    // Each ledger row's balance_after is the running sum in queue order: the batch saw its own writes.
    const { rows: broken } = await db.pool.query(
      `SELECT account_id FROM (
         SELECT account_id, balance_after, sum(amount) OVER (PARTITION BY account_id ORDER BY seq) AS running FROM ledger_entries
       ) l WHERE balance_after <> running`,
    );
    expect(broken).toEqual([]);
  });

  it('creates and acts on the same order and red packet in one batch, without falling back', async () => {
    const chain = [
      command('rt-chain-open', 'account.open', 'rt-chain', {}),
      command('rt-chain-fund', 'account.credit', 'rt-chain', { amount: 500 }),
      command('rt-chain-order', 'order.create', 'rt-chain-o', { accountId: 'rt-chain', amount: 120 }),
      command('rt-chain-pay', 'order.pay', 'rt-chain-o', {}),
      command('rt-chain-issue', 'redPacket.issue', 'rt-chain-rp', { orderId: 'rt-chain-o', accountId: 'rt-chain', amount: 30 }),
      command('rt-chain-rp-pay', 'redPacket.pay', 'rt-chain-rp', {}),
      command('rt-chain-ship', 'order.ship', 'rt-chain-o', {}),
    ];
    await system.commands.submit('anonymous', chain);
    // A fallback would probe each command alone: far more statements than one set pass.
    expect(await applyDirectly(chain.map((c) => c.id))).toBeLessThanOrEqual(12);
    const { rows } = await db.pool.query<{ id: string; status: string }>(`SELECT id, status FROM oncely.commands WHERE id LIKE 'rt-chain-%' ORDER BY id`);
    expect(rows.every((row) => row.status === 'succeeded')).toBe(true);
    const { rows: account } = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'rt-chain'`);
    expect(account).toEqual([{ balance: 500 - 120 + 30, version: 4 }]);
  });

  it('settles a redelivery of the whole batch without a second effect', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `rt-c-${i}`);
    const before = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries`);
    expect(await applyDirectly(ids)).toBeLessThanOrEqual(3);
    const after = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries`);
    expect(after.rows[0]?.n).toBe(before.rows[0]?.n);
  });
});
