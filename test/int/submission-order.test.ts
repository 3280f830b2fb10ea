// Commands submitted together on one entity are applied in the order given, not in id order: the insert
// returns rows in key order (for deadlock-free locking), but their jobs must keep the request's order.
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { waitForTerminal } from '../helpers/system.ts';

const { db, system } = useTestSystem({ roles: { api: true, worker: true } });

const client = () => createClient({ baseUrl: 'http://oncely.test', fetch: (url, init) => Promise.resolve(system.app!.request(url, init)) });

describe('submission order', () => {
  it('applies one batch request on one entity in request order, whatever the ids sort to', async () => {
    // Sorted by id these would run debit, credit, open: every one refused.
    const results = await client().batch([
      { id: 'zz-open', type: 'account.open', entityId: 'ordered', payload: {} },
      { id: 'mm-credit', type: 'account.credit', entityId: 'ordered', payload: { amount: 500 } },
      { id: 'aa-debit', type: 'account.debit', entityId: 'ordered', payload: { amount: 200 } },
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['accepted', 'accepted', 'accepted']);
    const statuses = await Promise.all(['zz-open', 'mm-credit', 'aa-debit'].map((id) => waitForTerminal(db.pool, id)));
    expect(statuses.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const { rows } = await db.pool.query<{ balance: string }>('SELECT balance FROM accounts WHERE id = $1', ['ordered']);
    expect(Number(rows[0]?.balance)).toBe(300);
  });
});
