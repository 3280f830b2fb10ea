// Guarantee 4 at the edge: a handler that outlives its job's expiry is abandoned by pg-boss, which rolls its
// transaction back and lets the job run again. Nothing the late handler does after that may take effect.
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../src/core/command.ts';
import { Amount } from '../../src/core/envelope.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { accountCommands } from '../../src/domains/accounts/commands.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { creditWithSql } from '../helpers/imperative.ts';
import { waitForTerminal, waitUntil } from '../helpers/system.ts';

const stalled = new Set<string>();
let lateWriteDone = false;

// The first attempt is inside a statement when its job expires (4 s in tests): pg-boss queues a ROLLBACK
// behind that statement, and the handler's next write must not slip in after the ROLLBACK and autocommit.
const stall = defineCommand({
  type: 'test.stall',
  summary: 'credits; its first attempt is mid-statement when the job expires, then writes straight away',
  payload: z.strictObject({ amount: Amount }),
  async handle(ctx) {
    if (!stalled.has(ctx.command.id)) {
      stalled.add(ctx.command.id);
      try {
        await ctx.sql.query('SELECT pg_sleep(5)');
        await ctx.sql.query('UPDATE accounts SET balance = balance + 1000 WHERE id = $1', [ctx.command.entityId]);
        return await creditWithSql(ctx.sql, ctx.command);
      } finally {
        lateWriteDone = true;
      }
    }
    return creditWithSql(ctx.sql, ctx.command);
  },
});

const { db, system } = useTestSystem({ registry: createRegistry([...accountCommands, stall]), env: { WORKER_BATCH_SIZE: '1', WORKER_CONCURRENCY: '2' } });

beforeAll(async () => {
  await system.commands.submit('anonymous', [{ id: 'open-ht', type: 'account.open', entityId: 'ht', expectedVersion: undefined, payload: {} }]);
  await waitForTerminal(db.pool, 'open-ht');
});

describe('handler-timeout', () => {
  it('lets no statement of an abandoned handler run outside its rolled-back transaction', async () => {
    await system.commands.submit('anonymous', [{ id: 'stall-1', type: 'test.stall', entityId: 'ht', expectedVersion: undefined, payload: { amount: 77 } }]);
    const status = await waitForTerminal(db.pool, 'stall-1', 60_000);
    expect(status.status).toBe('succeeded');
    await waitUntil(
      () => lateWriteDone,
      (done) => done,
      30_000,
      'the late handler to finish',
    );
    await sleep(500);
    const ledger = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger_entries WHERE command_id = 'stall-1'`);
    expect(ledger.rows[0]?.n).toBe(1);
    const account = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'ht'`);
    expect(account.rows[0]).toEqual({ balance: 77, version: 2 });
  });
});
