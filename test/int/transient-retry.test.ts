// Guarantee 7: transient failures are retried with backoff and apply once; a handler that keeps failing ends dead.
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { Amount } from '../../src/core/envelope.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { accountCommands, creditAccount } from '../../src/domains/accounts/commands.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { creditWithSql } from '../helpers/imperative.ts';
import type { NewCommand } from '../../src/processor/submit.ts';
import { waitForAllTerminal, waitForTerminal, waitUntil } from '../helpers/system.ts';

const failuresLeft = new Map<string, number>();

const flaky = defineCommand({
  type: 'test.flaky',
  summary: 'credits, after failing with a serialization failure as often as the test says',
  payload: z.strictObject({ amount: Amount }),
  plan: (command) => creditAccount.plan(command),
  decide(command, state) {
    const left = failuresLeft.get(command.id) ?? 0;
    if (left > 0) {
      failuresLeft.set(command.id, left - 1);
      throw Object.assign(new Error('could not serialize access due to concurrent update'), { code: '40001' });
    }
    return creditAccount.decide(command, state);
  },
});

const poison = defineCommand({
  type: 'test.poison',
  summary: 'writes, then always throws',
  payload: z.strictObject({ amount: Amount }),
  plan: (command) => creditAccount.plan(command),
  decide(command, state) {
    creditAccount.decide(command, state);
    throw new Error('poison: this handler always fails');
  },
});

const slow = defineCommand({
  type: 'test.slow',
  summary: 'credits after holding its transaction open for a while',
  payload: z.strictObject({ amount: Amount }),
  async handle(ctx) {
    await ctx.sql.query('SELECT pg_sleep(0.2)');
    return creditWithSql(ctx.sql, ctx.command);
  },
});

const { db, system } = useTestSystem({
  registry: createRegistry([...accountCommands, flaky, poison, slow]),
  env: { RETRY_LIMIT: '3', WORKER_CONCURRENCY: '4', WORKER_BATCH_SIZE: '5' },
});

beforeAll(async () => {
  await system.commands.submit('anonymous', [{ id: 'open-tr', type: 'account.open', entityId: 'tr', expectedVersion: undefined, payload: {} }]);
  await waitForTerminal(db.pool, 'open-tr');
});

const cmd = (id: string, type: string, amount: number): NewCommand => ({ id, type, entityId: 'tr', expectedVersion: undefined, payload: { amount } });

describe('transient-retry', () => {
  it('retries a serialization failure with backoff and applies the command once', async () => {
    failuresLeft.set('flaky-1', 2);
    await system.commands.submit('anonymous', [cmd('flaky-1', 'test.flaky', 40)]);
    await waitUntil(
      () => db.pool.query<{ status: string }>(`SELECT status FROM oncely.commands WHERE id = 'flaky-1'`).then((r) => r.rows[0]),
      (row) => row?.status === 'retrying',
      10_000,
      'the retrying status to be visible',
    );
    const status = await waitForTerminal(db.pool, 'flaky-1', 30_000);
    expect(status.status).toBe('succeeded');
    expect(status.attempts).toBe(3);
    const ledger = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries WHERE command_id = 'flaky-1'`);
    expect(ledger.rows[0]?.n).toBe(1);
  });

  it('ends a command whose handler keeps failing as dead after the retry limit, with no trace in business tables', async () => {
    const before = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'tr'`);
    await system.commands.submit('anonymous', [cmd('poison-1', 'test.poison', 999)]);
    const status = await waitForTerminal(db.pool, 'poison-1', 30_000);
    expect(status.status).toBe('dead');
    expect(status.attempts).toBe(3);
    expect(status.error).toEqual({ code: 'handler_error', message: 'poison: this handler always fails' });
    const after = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'tr'`);
    expect(after.rows[0]).toEqual(before.rows[0]);
    const ledger = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries WHERE command_id = 'poison-1'`);
    expect(ledger.rows[0]?.n).toBe(0);
    // The queue agrees: the job is done, and a copy sits in pg-boss's dead-letter queue.
    const dead = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'oncely-commands-dead' AND data->>'id' = 'poison-1'`);
    expect(dead.rows[0]?.n).toBe(1);
  });

  it('rides through pg_terminate_backend of the worker connections mid-run and applies every command once', async () => {
    const total = 40;
    await system.commands.submit(
      'anonymous',
      Array.from({ length: total }, (_, i) => cmd(`slow-${i}`, 'test.slow', i + 1)),
    );
    let terminated = 0;
    for (let sweep = 0; sweep < 4; sweep++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'oncely-worker' AND state <> 'idle' AND pid <> pg_backend_pid()`,
      );
      terminated += rows[0]?.n ?? 0;
    }
    expect(terminated).toBeGreaterThan(0);
    await waitForAllTerminal(db.pool, 60_000);
    const statuses = await db.pool.query(`SELECT status, count(*)::int AS n FROM oncely.commands WHERE id LIKE 'slow-%' GROUP BY status`);
    expect(statuses.rows).toEqual([{ status: 'succeeded', n: total }]);
    const ledger = await db.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT command_id)::int AS distinct, sum(amount)::int AS total FROM ledger_entries WHERE command_id LIKE 'slow-%'`,
    );
    expect(ledger.rows[0]).toEqual({ n: total, distinct: total, total: (total * (total + 1)) / 2 });
    // Still healthy afterwards: a new command goes through.
    await system.commands.submit('anonymous', [cmd('after-terminate', 'account.credit', 1)]);
    expect((await waitForTerminal(db.pool, 'after-terminate', 20_000)).status).toBe('succeeded');
  });
});
