// Accounts contract: a transfer locks both accounts in id order, so opposite transfers never deadlock.
// One command per transaction here (WORKER_BATCH_SIZE=1), so any deadlock would show as a second attempt.
import { describe, expect, it } from 'vitest';
import { useTestSystem } from '../helpers/fixture.ts';
import { waitForAllTerminal, waitForTerminal } from '../helpers/system.ts';
import type { NewCommand } from '../../src/processor/submit.ts';

const { db, system } = useTestSystem({ env: { WORKER_CONCURRENCY: '8', WORKER_BATCH_SIZE: '1' } });

const command = (id: string, type: string, entityId: string, payload: object): NewCommand => ({ id, type, entityId, payload, expectedVersion: undefined });

async function open(id: string) {
  await system.commands.submit('anonymous', [command(`open-${id}`, 'account.open', id, {})]);
  expect((await waitForTerminal(db.pool, `open-${id}`)).status).toBe('succeeded');
}

describe('transfer-lock-order', () => {
  it('does not deadlock opposite transfers between two accounts, and conserves money', async () => {
    await open('ol-a');
    await open('ol-b');
    await system.commands.submit('anonymous', [
      command('ol-a-fund', 'account.credit', 'ol-a', { amount: 10_000 }),
      command('ol-b-fund', 'account.credit', 'ol-b', { amount: 10_000 }),
    ]);
    await waitForAllTerminal(db.pool);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        system.commands.submit('anonymous', [
          i % 2 === 0
            ? command(`ol-t-${i}`, 'account.transfer', 'ol-a', { to: 'ol-b', amount: 7 })
            : command(`ol-t-${i}`, 'account.transfer', 'ol-b', { to: 'ol-a', amount: 3 }),
        ]),
      ),
    );
    await waitForAllTerminal(db.pool);
    const statuses = await db.pool.query(`SELECT status, max(attempts) AS attempts, count(*)::int AS n FROM oncely.commands WHERE id LIKE 'ol-t-%' GROUP BY status`);
    expect(statuses.rows).toEqual([{ status: 'succeeded', attempts: 1, n: 100 }]);
    const deadlocks = await db.pool.query<{ n: number }>(`SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()`);
    expect(deadlocks.rows[0]?.n).toBe(0);
    const balances = await db.pool.query(`SELECT id, balance::int AS balance, version FROM accounts WHERE id IN ('ol-a', 'ol-b') ORDER BY id`);
    expect(balances.rows).toEqual([
      { id: 'ol-a', balance: 10_000 - 50 * 7 + 50 * 3, version: 102 },
      { id: 'ol-b', balance: 10_000 + 50 * 7 - 50 * 3, version: 102 },
    ]);
  });
});
