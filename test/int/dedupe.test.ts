// Guarantee 3: re-submitting the same id never creates a second command or effect.
import { describe, expect, it } from 'vitest';
import { useTestSystem } from '../helpers/fixture.ts';
import { waitForTerminal } from '../helpers/system.ts';

const { db, system } = useTestSystem();

const post = async (body: unknown, headers: Record<string, string> = {}) =>
  await system.app!.request('/v1/commands', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('dedupe', () => {
  it('makes one command and one effect from 50 concurrent submissions of one id', async () => {
    expect((await post({ id: 'open-d1', type: 'account.open', entityId: 'd1', payload: {} })).status).toBe(202);
    await waitForTerminal(db.pool, 'open-d1');
    const credit = { id: 'credit-d1', type: 'account.credit', entityId: 'd1', payload: { amount: 700 } };
    const responses = await Promise.all(Array.from({ length: 50 }, () => post(credit)));
    const statuses = responses.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 200)).toBe(true);
    const replayed = responses.filter((r) => r.headers.get('idempotent-replayed') === 'true');
    expect(replayed.length).toBe(49);
    await waitForTerminal(db.pool, 'credit-d1');
    const commands = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id = 'credit-d1'`);
    expect(commands.rows[0]?.n).toBe(1);
    const ledger = await db.pool.query(`SELECT count(*)::int AS n, sum(amount)::int AS total FROM ledger_entries WHERE command_id = 'credit-d1'`);
    expect(ledger.rows[0]).toEqual({ n: 1, total: 700 });
    const account = await db.pool.query(`SELECT balance::int AS balance, version FROM accounts WHERE id = 'd1'`);
    expect(account.rows[0]).toEqual({ balance: 700, version: 2 });
    const jobs = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'oncely-commands' AND data->>'id' = 'credit-d1'`);
    expect(jobs.rows[0]?.n).toBe(1);
  });

  it('returns the stored outcome to a re-submission after the command ended', async () => {
    const body = { id: 'open-d2', type: 'account.open', entityId: 'd2', payload: { currency: 'USD' } };
    await post(body);
    const first = await waitForTerminal(db.pool, 'open-d2');
    const again = await post(body);
    expect(again.status).toBe(200);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(first);
  });

  it('refuses the same id with a different request, and stores nothing new', async () => {
    await post({ id: 'open-d3', type: 'account.open', entityId: 'd3', payload: {} });
    const reused = await post({ id: 'open-d3', type: 'account.open', entityId: 'd3-other', payload: {} });
    expect(reused.status).toBe(422);
    expect(reused.headers.get('content-type')).toContain('application/problem+json');
    expect(((await reused.json()) as { code: string }).code).toBe('idempotency_key_reused');
    const commands = await db.pool.query(`SELECT entity_id FROM oncely.commands WHERE id = 'open-d3'`);
    expect(commands.rows).toEqual([{ entity_id: 'd3' }]);
  });

  it('treats key order in the payload as the same request', async () => {
    await post({ id: 'open-d4', type: 'account.open', entityId: 'd4', payload: {} });
    await waitForTerminal(db.pool, 'open-d4');
    await post({ id: 'open-d5', type: 'account.open', entityId: 'd5', payload: {} });
    await waitForTerminal(db.pool, 'open-d5');
    const a = await post({ payload: { amount: 5, to: 'd5' }, entityId: 'd4', type: 'account.transfer', id: 'tx-d4' });
    const b = await post({ id: 'tx-d4', type: 'account.transfer', entityId: 'd4', payload: { to: 'd5', amount: 5 } });
    expect(a.status).toBe(202);
    expect([200, 202]).toContain(b.status);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
  });
});
