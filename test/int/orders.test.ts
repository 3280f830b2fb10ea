// The contract's order table through the HTTP API and the real processor: each command's effect and
// refusals, money moving with the order in one transaction, and pay racing cancel on one order.
import { describe, expect, it } from 'vitest';
import type { CommandStatus } from '../../src/core/envelope.ts';
import { useTestSystem } from '../helpers/fixture.ts';
import { httpHelpers } from '../helpers/http.ts';
import { waitForTerminal } from '../helpers/system.ts';

// One command per transaction and enough workers to take every command of a race at once.
const { db, system } = useTestSystem({ env: { WORKER_CONCURRENCY: '16', WORKER_BATCH_SIZE: '1' } });

const { run, get } = httpHelpers(() => ({ system, db }));

async function balance(accountId: string): Promise<number> {
  return (await get(`/v1/accounts/${accountId}`)).body['balance'] as number;
}

async function ledgerOf(accountId: string): Promise<Array<{ commandId: string; amount: number }>> {
  const items = (await get(`/v1/accounts/${accountId}/ledger`)).body['items'] as Array<{ commandId: string; amount: number }>;
  return items.map(({ commandId, amount }) => ({ commandId, amount }));
}

async function openAccount(id: string, funds: number): Promise<void> {
  expect((await run({ id: `open-${id}`, type: 'account.open', entityId: id })).status).toBe('succeeded');
  if (funds > 0) expect((await run({ id: `fund-${id}`, type: 'account.credit', entityId: id, payload: { amount: funds } })).status).toBe('succeeded');
}

describe('order commands', () => {
  it('creates an order in CREATED at version 1, readable over HTTP', async () => {
    await openAccount('oa1', 0);
    const created = await run({ id: 'create-o1', type: 'order.create', entityId: 'o1', payload: { accountId: 'oa1', amount: 250 } });
    expect(created).toMatchObject({ status: 'succeeded', result: { status: 'CREATED', version: 1 } });
    const read = await get('/v1/orders/o1');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: 'o1', accountId: 'oa1', amount: 250, status: 'CREATED', version: 1 });
    expect(Object.keys(read.body).sort()).toEqual(['accountId', 'amount', 'createdAt', 'id', 'status', 'updatedAt', 'version']);
  });

  it('refuses a second create of one order id under another command id', async () => {
    const again = await run({ id: 'create-o1-again', type: 'order.create', entityId: 'o1', payload: { accountId: 'oa1', amount: 999 } });
    expect(again).toMatchObject({ status: 'rejected', error: { code: 'already_exists' } });
    expect((await get('/v1/orders/o1')).body).toMatchObject({ amount: 250, version: 1 });
  });

  it('refuses an order for an unknown account, and stores no order', async () => {
    const missing = await run({ id: 'create-o-ghost', type: 'order.create', entityId: 'o-ghost', payload: { accountId: 'nobody', amount: 5 } });
    expect(missing).toMatchObject({ status: 'rejected', error: { code: 'not_found', details: { id: 'nobody' } } });
    expect((await get('/v1/orders/o-ghost')).status).toBe(404);
  });

  it('refuses commands on an order that does not exist', async () => {
    for (const type of ['order.pay', 'order.ship', 'order.complete', 'order.cancel']) {
      const outcome = await run({ id: `${type}-nothing`, type, entityId: 'no-such-order' });
      expect(outcome).toMatchObject({ status: 'rejected', error: { code: 'not_found' } });
    }
  });

  it('pays, ships and completes, debiting the account once in the pay transaction', async () => {
    await openAccount('oa2', 1000);
    await run({ id: 'create-o2', type: 'order.create', entityId: 'o2', payload: { accountId: 'oa2', amount: 400 } });
    expect(await run({ id: 'pay-o2', type: 'order.pay', entityId: 'o2' })).toMatchObject({ status: 'succeeded', result: { status: 'PAID', version: 2 } });
    expect(await balance('oa2')).toBe(600);
    expect(await run({ id: 'ship-o2', type: 'order.ship', entityId: 'o2' })).toMatchObject({ result: { status: 'DELIVERED', version: 3 } });
    expect(await run({ id: 'complete-o2', type: 'order.complete', entityId: 'o2' })).toMatchObject({ result: { status: 'COMPLETED', version: 4 } });
    expect(await ledgerOf('oa2')).toEqual([
      { commandId: 'fund-oa2', amount: 1000 },
      { commandId: 'pay-o2', amount: -400 },
    ]);
    expect(await run({ id: 'cancel-o2', type: 'order.cancel', entityId: 'o2' })).toMatchObject({
      status: 'rejected',
      error: { code: 'illegal_transition', details: { from: 'COMPLETED', to: 'CANCELLED' } },
    });
  });

  it('leaves an order CREATED and the account untouched when the funds do not suffice', async () => {
    await openAccount('oa3', 100);
    await run({ id: 'create-o3', type: 'order.create', entityId: 'o3', payload: { accountId: 'oa3', amount: 101 } });
    const pay = await run({ id: 'pay-o3', type: 'order.pay', entityId: 'o3' });
    expect(pay).toMatchObject({ status: 'rejected', error: { code: 'insufficient_funds' } });
    expect((await get('/v1/orders/o3')).body).toMatchObject({ status: 'CREATED', version: 1 });
    expect(await balance('oa3')).toBe(100);
    expect(await ledgerOf('oa3')).toEqual([{ commandId: 'fund-oa3', amount: 100 }]);
    // Once the money is there, a new pay command goes through.
    await run({ id: 'topup-oa3', type: 'account.credit', entityId: 'oa3', payload: { amount: 1 } });
    expect(await run({ id: 'pay-o3-again', type: 'order.pay', entityId: 'o3' })).toMatchObject({ status: 'succeeded', result: { status: 'PAID' } });
    expect(await balance('oa3')).toBe(0);
  });

  it('credits a PAID order back when it is cancelled, and a CREATED one without touching money', async () => {
    await openAccount('oa4', 500);
    await run({ id: 'create-o4', type: 'order.create', entityId: 'o4', payload: { accountId: 'oa4', amount: 300 } });
    await run({ id: 'pay-o4', type: 'order.pay', entityId: 'o4' });
    expect(await balance('oa4')).toBe(200);
    expect(await run({ id: 'cancel-o4', type: 'order.cancel', entityId: 'o4' })).toMatchObject({ result: { status: 'CANCELLED', version: 3 } });
    expect(await balance('oa4')).toBe(500);
    expect((await ledgerOf('oa4')).slice(1)).toEqual([
      { commandId: 'pay-o4', amount: -300 },
      { commandId: 'cancel-o4', amount: 300 },
    ]);

    await run({ id: 'create-o5', type: 'order.create', entityId: 'o5', payload: { accountId: 'oa4', amount: 50 } });
    expect(await run({ id: 'cancel-o5', type: 'order.cancel', entityId: 'o5' })).toMatchObject({ result: { status: 'CANCELLED', version: 2 } });
    expect(await ledgerOf('oa4')).toHaveLength(3);
    expect(await run({ id: 'pay-o5', type: 'order.pay', entityId: 'o5' })).toMatchObject({
      status: 'rejected',
      error: { code: 'illegal_transition', details: { from: 'CANCELLED', to: 'PAID' } },
    });
  });
});

describe('pay racing cancel on one order', () => {
  const ORDERS = 8;
  const AMOUNT = 100;

  async function race(prefix: string, expectedVersion: number | undefined): Promise<Array<{ pay: CommandStatus; cancel: CommandStatus }>> {
    await openAccount(`${prefix}-acc`, ORDERS * AMOUNT);
    const ids = Array.from({ length: ORDERS }, (_, i) => `${prefix}-o${i}`);
    for (const id of ids) await run({ id: `create-${id}`, type: 'order.create', entityId: id, payload: { accountId: `${prefix}-acc`, amount: AMOUNT } });
    // All pays and cancels in one submission, so the worker picks them up together and applies them concurrently.
    await system.commands.submit(
      'anonymous',
      ids.flatMap((id, i) => {
        const pay = { id: `pay-${id}`, type: 'order.pay', entityId: id, payload: {}, expectedVersion };
        const cancel = { id: `cancel-${id}`, type: 'order.cancel', entityId: id, payload: {}, expectedVersion };
        return i % 2 === 0 ? [pay, cancel] : [cancel, pay];
      }),
    );
    return Promise.all(ids.map(async (id) => ({ pay: await waitForTerminal(db.pool, `pay-${id}`), cancel: await waitForTerminal(db.pool, `cancel-${id}`) })));
  }

  it('with expectedVersion, exactly one of them wins and the money is conserved', async () => {
    const results = await race('rv', 1);
    for (const { pay, cancel } of results) {
      const winners = [pay, cancel].filter((c) => c.status === 'succeeded');
      expect(winners).toHaveLength(1);
      const loser = pay.status === 'succeeded' ? cancel : pay;
      expect(loser).toMatchObject({ status: 'conflict', error: { details: { expectedVersion: 1, actualVersion: 2 } } });
    }
    const paid = results.filter(({ pay }) => pay.status === 'succeeded').length;
    expect(await balance('rv-acc')).toBe(ORDERS * AMOUNT - paid * AMOUNT);
    const ledger = await ledgerOf('rv-acc');
    expect(ledger.reduce((sum, e) => sum + e.amount, 0)).toBe(await balance('rv-acc'));
  });

  it('without expectedVersion, every order ends CANCELLED and every debit is credited back', async () => {
    const results = await race('rn', undefined);
    for (const [i, { pay, cancel }] of results.entries()) {
      expect(cancel.status).toBe('succeeded');
      // Either pay came first (and cancel refunded it) or cancel did (and pay was refused).
      if (pay.status !== 'succeeded') {
        expect(pay).toMatchObject({ status: 'rejected', error: { code: 'illegal_transition', details: { from: 'CANCELLED', to: 'PAID' } } });
        expect(cancel.result).toEqual({ status: 'CANCELLED', version: 2 });
      } else {
        expect(cancel.result).toEqual({ status: 'CANCELLED', version: 3 });
      }
      expect((await get(`/v1/orders/rn-o${i}`)).body).toMatchObject({ status: 'CANCELLED' });
    }
    expect(await balance('rn-acc')).toBe(ORDERS * AMOUNT);
    const ledger = await ledgerOf('rn-acc');
    expect(ledger.reduce((sum, e) => sum + e.amount, 0)).toBe(ORDERS * AMOUNT);
    const paid = results.filter(({ pay }) => pay.status === 'succeeded').length;
    expect(ledger).toHaveLength(1 + 2 * paid);
  });
});
