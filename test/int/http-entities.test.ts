// Entity reads carry their version as an ETag; If-Match on submission is the command's expectedVersion, so a
// client can read, decide and write back conditionally (guarantee 5 over HTTP).
import { describe, expect, it } from 'vitest';
import { createReferenceClient as createClient } from '../../src/client/reference.ts';
import type { CommandStatus } from '../../src/core/envelope.ts';
import { useTestSystem } from '../helpers/fixture.ts';

const { db, system } = useTestSystem();

const request = (path: string, init: RequestInit = {}) => Promise.resolve(system.app!.request(path, init));
const oncely = createClient({ baseUrl: 'http://oncely.test', fetch: (url, init) => request(url, init) });

async function run(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<{ res: Response; status: CommandStatus }> {
  const res = await request('/v1/commands', {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=10', ...headers },
    body: JSON.stringify(body),
  });
  return { res, status: (await res.clone().json()) as CommandStatus };
}

describe('entity reads', () => {
  it('serves accounts, orders and red packets with ETag "version", 304 for If-None-Match, 404 otherwise', async () => {
    expect((await run({ id: 'open-e1', type: 'account.open', entityId: 'e1' })).status.status).toBe('succeeded');
    expect((await run({ id: 'credit-e1', type: 'account.credit', entityId: 'e1', payload: { amount: 1000 } })).status.status).toBe('succeeded');
    expect((await run({ id: 'order-e1', type: 'order.create', entityId: 'o1', payload: { accountId: 'e1', amount: 300 } })).status.status).toBe('succeeded');
    expect((await run({ id: 'rp-e1', type: 'redPacket.issue', entityId: 'rp1', payload: { orderId: 'o1', accountId: 'e1', amount: 50 } })).status.status).toBe(
      'succeeded',
    );

    const account = await request('/v1/accounts/e1');
    expect(account.status).toBe(200);
    expect(account.headers.get('etag')).toBe('"2"');
    expect(await account.json()).toEqual({ id: 'e1', currency: 'CNY', balance: 1000, version: 2, createdAt: expect.any(String), updatedAt: expect.any(String) });

    const order = await request('/v1/orders/o1');
    expect(order.headers.get('etag')).toBe('"1"');
    expect(await order.json()).toEqual({
      id: 'o1',
      accountId: 'e1',
      amount: 300,
      status: 'CREATED',
      version: 1,
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });

    const redPacket = await request('/v1/red-packets/rp1');
    expect(redPacket.headers.get('etag')).toBe('"1"');
    expect(await redPacket.json()).toMatchObject({ id: 'rp1', orderId: 'o1', accountId: 'e1', amount: 50, status: 'CREATED', version: 1 });

    const unchanged = await request('/v1/accounts/e1', { headers: { 'if-none-match': '"2"' } });
    expect(unchanged.status).toBe(304);
    expect(unchanged.headers.get('etag')).toBe('"2"');
    expect((await request('/v1/accounts/e1', { headers: { 'if-none-match': '"1", W/"7"' } })).status).toBe(200);

    for (const path of ['/v1/accounts/none', '/v1/orders/none', '/v1/red-packets/none', '/v1/accounts/none/ledger', '/v1/accounts/bad%20id']) {
      const res = await request(path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('not_found');
    }

    const ledger = await oncely.ledger('e1', { limit: 1 });
    expect(ledger?.items).toEqual([{ commandId: 'credit-e1', amount: 1000, balanceAfter: 1000, createdAt: expect.any(String) }]);
    expect((await oncely.order('o1'))?.status).toBe('CREATED');
    expect((await oncely.redPacket('rp1'))?.amount).toBe(50);
    expect(await oncely.account('none')).toBeNull();
  });

  it('takes If-Match as expectedVersion: the current version applies, a stale one ends conflict', async () => {
    const etag = (await request('/v1/accounts/e1')).headers.get('etag')!;
    const applied = await run({ id: 'debit-e1-a', type: 'account.debit', entityId: 'e1', payload: { amount: 100 } }, { 'if-match': etag });
    expect(applied.status).toMatchObject({ status: 'succeeded', expectedVersion: 2, result: { balance: 900, version: 3 } });
    const stale = await run({ id: 'debit-e1-b', type: 'account.debit', entityId: 'e1', payload: { amount: 100 } }, { 'if-match': etag });
    expect(stale.status).toMatchObject({ status: 'conflict', error: { code: 'version_conflict', details: { expectedVersion: 2, actualVersion: 3 } } });
    expect((await oncely.account('e1'))?.balance).toBe(900);
    // The typed client sends a number as an entity tag.
    const viaClient = await oncely.submit({ id: 'debit-e1-c', type: 'account.debit', entityId: 'e1', payload: { amount: 1 } }, { ifMatch: 3, wait: 10 });
    expect(viaClient.status).toMatchObject({ status: 'succeeded', expectedVersion: 3 });
  });

  it('treats If-Match and an equal expectedVersion as one request, and refuses them disagreeing: 400 version_mismatch', async () => {
    const agree = await run({ id: 'credit-e1-x', type: 'account.credit', entityId: 'e1', expectedVersion: 4, payload: { amount: 1 } }, { 'if-match': 'W/"4"' });
    expect(agree.status).toMatchObject({ status: 'succeeded', expectedVersion: 4 });
    // The same id resent with only the body's expectedVersion is the same request (same fingerprint).
    const again = await run({ id: 'credit-e1-x', type: 'account.credit', entityId: 'e1', expectedVersion: 4, payload: { amount: 1 } });
    expect(again.res.headers.get('idempotent-replayed')).toBe('true');

    const disagree = await run({ id: 'credit-e1-y', type: 'account.credit', entityId: 'e1', expectedVersion: 4, payload: { amount: 1 } }, { 'if-match': '"5"' });
    expect(disagree.res.status).toBe(400);
    expect(disagree.res.headers.get('content-type')).toBe('application/problem+json');
    expect(disagree.status).toMatchObject({ code: 'version_mismatch', ifMatch: 5, expectedVersion: 4 });

    for (const bad of ['*', '"1", "2"', '5', '"-1"', '"abc"']) {
      const res = (await run({ id: 'credit-e1-z', type: 'account.credit', entityId: 'e1', payload: { amount: 1 } }, { 'if-match': bad })).res;
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { code: string; errors: { path: string }[] }).errors[0]?.path).toBe('If-Match');
    }
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM oncely.commands WHERE id IN ('credit-e1-y', 'credit-e1-z')`);
    expect(rows[0]?.n).toBe(0);
  });
});
