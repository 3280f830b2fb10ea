// Guarantee 4: a worker process killed inside its transaction, or right after its commit, and a replayed
// job, never apply a command twice; the command still ends, exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NewCommand } from '../../src/processor/submit.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { readStatus, spawnEntry, waitForTerminal, waitUntil, type Child } from '../helpers/system.ts';

// The API side only: every command here is applied by worker processes this test starts and kills.
const { db, system: api } = useTestSystem({ roles: { api: true, worker: false } });
const children: Child[] = [];

const worker = (env: Record<string, string> = {}) => {
  const child = spawnEntry('worker-with-faults', { DATABASE_URL: db.url, WORKER_BATCH_SIZE: '1', WORKER_CONCURRENCY: '1', ...env });
  children.push(child);
  return child;
};

const credit = (id: string, amount: number): NewCommand => ({ id, type: 'account.credit', entityId: 'cr', expectedVersion: undefined, payload: { amount } });

async function ledgerCount(id: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries WHERE command_id = $1`, [id]);
  return rows[0]?.n ?? -1;
}

beforeAll(async () => {
  await api.commands.submit('anonymous', [{ id: 'open-cr', type: 'account.open', entityId: 'cr', expectedVersion: undefined, payload: {} }]);
  const opener = worker();
  await waitForTerminal(db.pool, 'open-cr', 30_000);
  await opener.kill('SIGTERM');
});
afterAll(async () => {
  await Promise.all(children.map((child) => child.kill('SIGKILL')));
});

describe('crash-replay', () => {
  it('rolls back a worker killed inside its transaction, and the redelivered job applies the command once', async () => {
    await api.commands.submit('anonymous', [credit('kill-in-tx', 250)]);
    const doomed = worker({ ONCELY_FAULT: 'kill-in-transaction' });
    await doomed.exited;
    expect(doomed.process.signalCode).toBe('SIGKILL');
    // The effect was written but never committed.
    expect((await readStatus(db.pool, 'kill-in-tx'))?.status).toBe('queued');
    expect(await ledgerCount('kill-in-tx')).toBe(0);

    const started = Date.now();
    const healer = worker();
    const status = await waitForTerminal(db.pool, 'kill-in-tx', 30_000);
    expect(await healer.kill('SIGTERM')).toBe(0);
    expect(status.status).toBe('succeeded');
    expect(status.attempts).toBe(2);
    expect(await ledgerCount('kill-in-tx')).toBe(1);
    // Picked up again after the job's expiry (3 s in tests), well within 30 s.
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('keeps the effect of a worker killed right after its commit, and never applies it again', async () => {
    await api.commands.submit('anonymous', [credit('kill-after-commit', 300)]);
    const doomed = worker({ ONCELY_FAULT: 'kill-after-commit' });
    await doomed.exited;
    expect(doomed.process.signalCode).toBe('SIGKILL');
    const status = await readStatus(db.pool, 'kill-after-commit');
    expect(status?.status).toBe('succeeded');
    // The job's completion committed with the effect: nothing is left to redeliver.
    const job = await db.pool.query(`SELECT state FROM pgboss.job WHERE name = 'oncely-commands' AND data->>'id' = 'kill-after-commit'`);
    expect(job.rows).toEqual([{ state: 'completed' }]);
    expect(await ledgerCount('kill-after-commit')).toBe(1);
  });

  it('does nothing when a job for an ended command is delivered again (a replay from the queue)', async () => {
    const before = await readStatus(db.pool, 'kill-after-commit');
    const balance = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'cr'`);
    // Put a second job for the same command on the queue, as a broker replay or an operator's redrive would.
    await db.pool.query(`INSERT INTO pgboss.job (name, data) VALUES ('oncely-commands', '{"clientId":"anonymous","id":"kill-after-commit","entityId":"cr"}'::jsonb)`);
    worker();
    await waitUntil(
      () =>
        db.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'oncely-commands' AND data->>'id' = 'kill-after-commit' AND state = 'completed'`,
        ),
      (r) => r.rows[0]?.n === 2,
      30_000,
      'the replayed job to be completed',
    );
    expect(await readStatus(db.pool, 'kill-after-commit')).toEqual(before);
    expect(await ledgerCount('kill-after-commit')).toBe(1);
    expect((await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'cr'`)).rows).toEqual(balance.rows);
  });
});
