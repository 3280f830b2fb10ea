// Guarantee 7 over HTTP: dead commands are listed (cursor pagination) and a replay puts a dead command back
// on the queue under the same id, applied at most once however many replays race.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient, ProblemError } from '../../src/client/index.ts';
import { defineCommand } from '../../src/core/command.ts';
import { Amount } from '../../src/core/envelope.ts';
import { createRegistry } from '../../src/core/registry.ts';
import { accountCommands, creditAccount } from '../../src/domains/accounts/commands.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { waitForTerminal } from '../helpers/system.ts';

let broken = true;

/** Credits the account, then throws for as long as the test keeps it broken. */
const fragile = defineCommand({
  type: 'test.fragile',
  summary: 'credits, and fails while the test says it is broken',
  payload: z.strictObject({ amount: Amount }),
  plan: (command) => creditAccount.plan(command),
  decide(command, state) {
    const outcome = creditAccount.decide(command, state);
    if (broken) throw new Error('fragile: broken for now');
    return outcome;
  },
});

const { db, system } = useTestSystem({ registry: createRegistry([...accountCommands, fragile]), env: { RETRY_LIMIT: '2' } });

const client = () => createClient({ baseUrl: 'http://oncely.test', fetch: (url, init) => Promise.resolve(system.app!.request(url, init)) });

async function problemOf(promise: Promise<unknown>): Promise<ProblemError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ProblemError);
  return error as ProblemError;
}

async function ledgerOf(account: string) {
  const { rows } = await db.pool.query<{ command_id: string; amount: number }>(
    `SELECT command_id, amount::int AS amount FROM ledger_entries WHERE account_id = $1 ORDER BY seq`,
    [account],
  );
  return rows;
}

describe('dead letters', () => {
  it('lists dead commands oldest first, a page at a time', async () => {
    const oncely = client();
    expect((await oncely.submit({ id: 'open-dl', type: 'account.open', entityId: 'dl', payload: {} }, { wait: 10 })).status.status).toBe('succeeded');
    for (const id of ['frag-1', 'frag-2', 'frag-3']) {
      await oncely.submit({ id, type: 'test.fragile', entityId: 'dl', payload: { amount: 10 } });
      const dead = await waitForTerminal(db.pool, id);
      expect(dead).toMatchObject({ status: 'dead', attempts: 2, error: { code: 'handler_error' } });
    }
    // A dead command left nothing behind.
    expect(await ledgerOf('dl')).toEqual([]);

    const first = await oncely.deadLetters({ limit: 2 });
    expect(first.items.map((item) => item.id)).toEqual(['frag-1', 'frag-2']);
    expect(first.items.every((item) => item.status === 'dead')).toBe(true);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await oncely.deadLetters({ limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((item) => item.id)).toEqual(['frag-3']);
    expect(second.nextCursor).toBeNull();
    expect((await oncely.deadLetters()).items).toHaveLength(3);
  });

  it('refuses a bad limit or cursor: 400 invalid_request', async () => {
    for (const query of ['limit=0', 'limit=1001', 'limit=abc', 'limit=1.5', 'cursor=!!', 'cursor=bm90IGEgY3Vyc29y']) {
      const res = await Promise.resolve(system.app!.request(`/v1/dead-letters?${query}`));
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('invalid_request');
    }
  });

  it('replays only dead commands: 409 not_dead otherwise, 404 for an unknown id', async () => {
    const oncely = client();
    const notDead = await problemOf(oncely.replay('open-dl'));
    expect(notDead.status).toBe(409);
    expect(notDead.code).toBe('not_dead');
    expect(notDead.problem['commandStatus']).toBe('succeeded');
    for (const id of ['no-such-command', 'bad id']) {
      const unknown = await problemOf(oncely.replay(id));
      expect([unknown.status, unknown.code]).toEqual([404, 'not_found']);
    }
  });

  it('puts a dead command back under the same id and applies it once', async () => {
    broken = false;
    const oncely = client();
    const replayed = await oncely.replay('frag-1');
    expect(replayed).toMatchObject({ id: 'frag-1', status: 'queued', error: null, completedAt: null });
    const done = await oncely.waitFor('frag-1', { timeoutMs: 30_000 });
    expect(done).toMatchObject({ id: 'frag-1', status: 'succeeded', result: { balance: 10 } });
    expect(await ledgerOf('dl')).toEqual([{ command_id: 'frag-1', amount: 10 }]);
    expect((await problemOf(oncely.replay('frag-1'))).code).toBe('not_dead');
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = 'frag-1'`);
    expect(rows[0]?.n).toBe(1);
  });

  it('lets exactly one of many concurrent replays through, and applies the command once', async () => {
    const attempts = await Promise.all(Array.from({ length: 8 }, () => Promise.resolve(system.app!.request('/v1/commands/frag-2/replay', { method: 'POST' }))));
    const statuses = attempts.map((res) => res.status).sort();
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(7);
    const done = await client().waitFor('frag-2', { timeoutMs: 30_000 });
    expect(done.status).toBe('succeeded');
    expect((await ledgerOf('dl')).filter((row) => row.command_id === 'frag-2')).toHaveLength(1);
    // Only the one never replayed is still listed.
    expect((await client().deadLetters()).items.map((item) => item.id)).toEqual(['frag-3']);
  });
});
