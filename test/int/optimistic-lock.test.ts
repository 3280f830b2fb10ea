// Guarantees 5 and 6: a stale expectedVersion ends `conflict`; without one, concurrent commands all apply.
import { describe, expect, it } from 'vitest';
import { useTestSystem } from '../helpers/fixture.ts';
import { waitForAllTerminal, waitForTerminal } from '../helpers/system.ts';
import type { NewCommand } from '../../src/processor/submit.ts';

const { db, system } = useTestSystem({ env: { WORKER_CONCURRENCY: '8' } });

const command = (id: string, type: string, entityId: string, payload: object, expectedVersion?: number): NewCommand => ({
  id,
  type,
  entityId,
  payload,
  expectedVersion,
});

async function open(id: string) {
  await system.commands.submit('anonymous', [command(`open-${id}`, 'account.open', id, {})]);
  expect((await waitForTerminal(db.pool, `open-${id}`)).status).toBe('succeeded');
}

describe('optimistic-lock', () => {
  it('gives exactly one success and 19 conflicts to 20 concurrent credits carrying the same expectedVersion', async () => {
    await open('ol-1');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => system.commands.submit('anonymous', [command(`ol-1-credit-${i}`, 'account.credit', 'ol-1', { amount: 100 + i }, 1)])),
    );
    await waitForAllTerminal(db.pool);
    const { rows } = await db.pool.query<{ status: string; error: { code: string; details: unknown } | null; payload: { amount: number } }>(
      `SELECT status, error, payload FROM oncely.commands WHERE id LIKE 'ol-1-credit-%'`,
    );
    const won = rows.filter((r) => r.status === 'succeeded');
    const lost = rows.filter((r) => r.status === 'conflict');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(19);
    for (const r of lost) {
      expect(r.error?.code).toBe('version_conflict');
      expect(r.error?.details).toEqual({ expectedVersion: 1, actualVersion: 2 });
    }
    const account = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'ol-1'`);
    expect(account.rows[0]).toEqual({ balance: won[0]!.payload.amount, version: 2 });
    const ledger = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries WHERE account_id = 'ol-1'`);
    expect(ledger.rows[0]?.n).toBe(1);
  });

  it('applies all of 200 concurrent credits without a version: no lost update, no spurious conflict', async () => {
    await open('ol-2');
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => system.commands.submit('anonymous', [command(`ol-2-credit-${i}`, 'account.credit', 'ol-2', { amount: i + 1 })])),
    );
    await waitForAllTerminal(db.pool);
    const statuses = await db.pool.query(`SELECT status, count(*)::int AS n FROM oncely.commands WHERE id LIKE 'ol-2-credit-%' GROUP BY status`);
    expect(statuses.rows).toEqual([{ status: 'succeeded', n: 200 }]);
    const expected = (200 * 201) / 2;
    const account = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'ol-2'`);
    expect(account.rows[0]).toEqual({ balance: expected, version: 201 });
    const ledger = await db.pool.query(`SELECT count(*)::int AS n, sum(amount)::int AS total FROM ledger_entries WHERE account_id = 'ol-2'`);
    expect(ledger.rows[0]).toEqual({ n: 200, total: expected });
  });

  it('applies a stale-version command as conflict and leaves no trace', async () => {
    await open('ol-3');
    await system.commands.submit('anonymous', [command('ol-3-c1', 'account.credit', 'ol-3', { amount: 5 })]);
    await waitForTerminal(db.pool, 'ol-3-c1');
    await system.commands.submit('anonymous', [command('ol-3-debit', 'account.debit', 'ol-3', { amount: 5 }, 1)]);
    const status = await waitForTerminal(db.pool, 'ol-3-debit');
    expect(status.status).toBe('conflict');
    expect(status.error?.details).toEqual({ expectedVersion: 1, actualVersion: 2 });
    const account = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'ol-3'`);
    expect(account.rows[0]).toEqual({ balance: 5, version: 2 });
  });
});
