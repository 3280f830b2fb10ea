// One bad command never spoils its batch: when a set statement fails (a check constraint) or a decision
// throws, the batch is rolled back to its savepoint and applied one command at a time, so the good commands
// commit once and the bad ones are retried and end dead, as before.
import { z } from 'zod';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineCommand } from '../../src/core/command.ts';
import { Amount } from '../../src/core/envelope.ts';
import { succeeded } from '../../src/core/outcome.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { rowKey } from '../../src/core/table.ts';
import { accountCommands } from '../../src/domains/accounts/commands.ts';
import { accountRows } from '../../src/domains/accounts/rows.ts';
import type { NewCommand } from '../../src/processor/submit.ts';
import type { System } from '../../src/system.ts';
import { useTestDatabase } from '../helpers/fixture.ts';
import { startTestSystem, waitForAllTerminal, waitForTerminal } from '../helpers/system.ts';

/** Its decision throws (a bug in a decide function). */
const throws = defineCommand({
  type: 'test.throws',
  summary: 'a decision that throws',
  payload: z.strictObject({ amount: Amount }),
  plan: (command) => ({ lock: [rowKey(accountRows, command.entityId)] }),
  decide() {
    throw new Error('test.throws: a bug in the decision');
  },
});

/** Its write breaks the accounts_balance_check constraint: only the database can tell. */
const overdraw = defineCommand({
  type: 'test.overdraw',
  summary: 'writes a negative balance, which the check constraint refuses',
  payload: z.strictObject({ amount: Amount }),
  plan: (command) => ({ lock: [rowKey(accountRows, command.entityId)] }),
  decide(command, state) {
    const current = state.get(accountRows, command.entityId)!;
    return succeeded(state.update(accountRows, { ...current, balance: current.balance - 1_000_000_000 }));
  },
});

const registry = createRegistry([...accountCommands, throws, overdraw]);
const db = useTestDatabase();
const systems: System[] = [];

beforeAll(async () => {
  systems.push(await startTestSystem(db.url, { registry, roles: { api: true, worker: false } }));
});

const command = (id: string, type: string, entityId: string, payload: object): NewCommand => ({ id, type, entityId, payload, expectedVersion: undefined });

describe('batch fallback', () => {
  it('commits the good commands of a batch once and ends the bad ones dead', async () => {
    const api = systems[0]!;
    const opens = ['fb-a', 'fb-b', 'fb-c'].map((id) => command(`open-${id}`, 'account.open', id, {}));
    const credits = Array.from({ length: 20 }, (_, i) => command(`fb-credit-${i}`, 'account.credit', ['fb-a', 'fb-b', 'fb-c'][i % 3]!, { amount: 10 + i }));
    await api.commands.submit('anonymous', opens);
    const opener = await startTestSystem(db.url, { registry, roles: { api: false, worker: true } });
    await waitForAllTerminal(db.pool);
    await opener.stop();
    // Everything queued before any worker runs, so the first batch holds the good and the bad together.
    await api.commands.submit('anonymous', [
      ...credits.slice(0, 10),
      command('fb-throws', 'test.throws', 'fb-a', { amount: 1 }),
      ...credits.slice(10, 15),
      command('fb-overdraw', 'test.overdraw', 'fb-b', { amount: 1 }),
      ...credits.slice(15),
    ]);
    systems.push(
      await startTestSystem(db.url, { registry, roles: { api: false, worker: true }, env: { WORKER_BATCH_SIZE: '50', WORKER_CONCURRENCY: '1', RETRY_LIMIT: '2' } }),
    );
    await waitForAllTerminal(db.pool);

    for (const id of ['fb-throws', 'fb-overdraw']) {
      const status = await waitForTerminal(db.pool, id);
      expect(status.status).toBe('dead');
      expect(status.error?.code).toBe('handler_error');
      // Errors are safe to show: no SQL, no stack.
      expect(JSON.stringify(status.error)).not.toMatch(/UPDATE|unnest|at .*\.ts/);
    }
    const { rows: good } = await db.pool.query<{ status: string; attempts: number; n: number }>(
      `SELECT status, max(attempts)::int AS attempts, count(*)::int AS n FROM oncely.commands WHERE id LIKE 'fb-credit-%' GROUP BY status, attempts`,
    );
    expect(good).toEqual([{ status: 'succeeded', attempts: 1, n: 20 }]);
    const { rows: ledger } = await db.pool.query<{ command_id: string; n: number }>(
      `SELECT command_id, count(*)::int AS n FROM ledger_entries GROUP BY command_id HAVING count(*) <> 1 OR command_id NOT LIKE 'fb-credit-%'`,
    );
    expect(ledger).toEqual([]);
    const { rows: balances } = await db.pool.query<{ total: number; count: number }>(
      `SELECT sum(balance)::int AS total, count(*)::int AS count FROM accounts WHERE id LIKE 'fb-%'`,
    );
    expect(balances[0]).toEqual({ total: credits.reduce((sum, c) => sum + (c.payload as { amount: number }).amount, 0), count: 3 });
  });
});
