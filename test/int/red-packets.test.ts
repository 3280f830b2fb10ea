// The contract's red packet table through the HTTP API and the real processor, and the business key
// (one live red packet per order) holding under concurrent issues with different command ids.
import { setTimeout } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestSystem } from '../helpers/fixture.ts';
import { httpHelpers, type Body } from '../helpers/http.ts';
import { waitForTerminal } from '../helpers/system.ts';

const RACE_HOLD_MS = 150;

const { db, system } = useTestSystem({
  // One command per transaction and enough workers to take every issue of a race at once.
  env: { WORKER_CONCURRENCY: '12', WORKER_BATCH_SIZE: '1' },
  // Racing issues hold their transaction open a little after writing, so they overlap for certain:
  // each later one waits on the first one's lock of the order, then finds its live red packet.
  hooks: { beforeSettle: (delivery) => (delivery.id.startsWith('race-') ? setTimeout(RACE_HOLD_MS) : undefined) },
});

beforeAll(async () => {
  await run({ id: 'open-ra', type: 'account.open', entityId: 'ra' });
  await run({ id: 'open-rb', type: 'account.open', entityId: 'rb' });
  await run({ id: 'fund-ra', type: 'account.credit', entityId: 'ra', payload: { amount: 10_000 } });
});

const { run, get } = httpHelpers(() => ({ system, db }));

async function createOrder(id: string): Promise<void> {
  expect((await run({ id: `create-${id}`, type: 'order.create', entityId: id, payload: { accountId: 'ra', amount: 100 } })).status).toBe('succeeded');
}

const issue = (id: string, redPacketId: string, orderId: string, amount = 66): Body => ({
  id,
  type: 'redPacket.issue',
  entityId: redPacketId,
  payload: { orderId, accountId: 'rb', amount },
});

describe('red packet commands', () => {
  it('issues a red packet in CREATED at version 1, readable over HTTP', async () => {
    await createOrder('ro1');
    expect(await run(issue('issue-rp1', 'rp1', 'ro1'))).toMatchObject({ status: 'succeeded', result: { status: 'CREATED', version: 1 } });
    const read = await get('/v1/red-packets/rp1');
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: 'rp1', orderId: 'ro1', accountId: 'rb', amount: 66, status: 'CREATED', version: 1 });
    expect(Object.keys(read.body).sort()).toEqual(['accountId', 'amount', 'createdAt', 'id', 'orderId', 'status', 'updatedAt', 'version']);
    expect((await get('/v1/red-packets/nope')).status).toBe(404);
  });

  it('refuses a second red packet for the order under another command id, naming the live one', async () => {
    const second = await run(issue('issue-rp1b', 'rp1b', 'ro1'));
    expect(second).toMatchObject({ status: 'rejected', error: { code: 'already_issued', details: { redPacketId: 'rp1' } } });
    expect((await get('/v1/red-packets/rp1b')).status).toBe(404);
  });

  it('refuses an existing red packet id', async () => {
    await createOrder('ro2');
    const reused = await run(issue('issue-rp1-for-ro2', 'rp1', 'ro2'));
    expect(reused).toMatchObject({ status: 'rejected', error: { code: 'already_exists' } });
    expect((await get('/v1/red-packets/rp1')).body).toMatchObject({ orderId: 'ro1' });
  });

  it('refuses a missing order, a cancelled order and a missing account', async () => {
    expect(await run(issue('issue-no-order', 'rp-x', 'no-such-order'))).toMatchObject({ status: 'rejected', error: { code: 'not_found' } });
    await createOrder('ro3');
    await run({ id: 'cancel-ro3', type: 'order.cancel', entityId: 'ro3' });
    expect(await run(issue('issue-ro3', 'rp-ro3', 'ro3'))).toMatchObject({ status: 'rejected', error: { code: 'order_not_eligible' } });
    const noAccount = await run({ id: 'issue-no-acc', type: 'redPacket.issue', entityId: 'rp-y', payload: { orderId: 'ro2', accountId: 'ghost', amount: 1 } });
    expect(noAccount).toMatchObject({ status: 'rejected', error: { code: 'not_found', details: { id: 'ghost' } } });
    const { rows } = await db.pool.query(`SELECT id FROM red_packets WHERE id IN ('rp-x', 'rp-ro3', 'rp-y')`);
    expect(rows).toEqual([]);
  });

  it('pays a red packet into its account once, in the same transaction', async () => {
    expect(await run({ id: 'pay-rp1', type: 'redPacket.pay', entityId: 'rp1' })).toMatchObject({ status: 'succeeded', result: { status: 'PAID', version: 2 } });
    expect((await get('/v1/accounts/rb')).body).toMatchObject({ balance: 66, version: 2 });
    const again = await run({ id: 'pay-rp1-again', type: 'redPacket.pay', entityId: 'rp1' });
    expect(again).toMatchObject({ status: 'rejected', error: { code: 'illegal_transition', details: { from: 'PAID', to: 'PAID' } } });
    expect(await run({ id: 'cancel-rp1', type: 'redPacket.cancel', entityId: 'rp1' })).toMatchObject({
      status: 'rejected',
      error: { code: 'illegal_transition', details: { from: 'PAID', to: 'CANCELLED' } },
    });
    const ledger = await get('/v1/accounts/rb/ledger');
    expect(ledger.body['items']).toEqual([expect.objectContaining({ commandId: 'pay-rp1', amount: 66, balanceAfter: 66 })]);
    // A PAID red packet is still live: the order stays taken.
    expect(await run(issue('issue-rp1c', 'rp1c', 'ro1'))).toMatchObject({ error: { code: 'already_issued', details: { redPacketId: 'rp1' } } });
  });

  it('frees the order for a new red packet once the live one is cancelled', async () => {
    await createOrder('ro4');
    await run(issue('issue-rp4a', 'rp4a', 'ro4'));
    expect(await run({ id: 'cancel-rp4a', type: 'redPacket.cancel', entityId: 'rp4a' })).toMatchObject({ result: { status: 'CANCELLED', version: 2 } });
    expect(await run(issue('issue-rp4b', 'rp4b', 'ro4'))).toMatchObject({ status: 'succeeded', result: { status: 'CREATED', version: 1 } });
    expect(await run({ id: 'pay-rp4a', type: 'redPacket.pay', entityId: 'rp4a' })).toMatchObject({
      error: { code: 'illegal_transition', details: { from: 'CANCELLED', to: 'PAID' } },
    });
  });

  it('refuses commands on a red packet that does not exist, and stale versions', async () => {
    expect(await run({ id: 'pay-ghost', type: 'redPacket.pay', entityId: 'rp-ghost' })).toMatchObject({ error: { code: 'not_found' } });
    expect(await run({ id: 'cancel-ghost', type: 'redPacket.cancel', entityId: 'rp-ghost' })).toMatchObject({ error: { code: 'not_found' } });
    const stale = await run({ id: 'cancel-rp4b-stale', type: 'redPacket.cancel', entityId: 'rp4b', expectedVersion: 3 });
    expect(stale).toMatchObject({ status: 'conflict', error: { details: { expectedVersion: 3, actualVersion: 1 } } });
    expect((await get('/v1/red-packets/rp4b')).body).toMatchObject({ status: 'CREATED', version: 1 });
  });
});

describe('concurrent issues for one order', () => {
  it('make exactly one red packet; the others are refused cleanly, naming it', async () => {
    const ISSUES = 10;
    await createOrder('race-o');
    await system.commands.submit(
      'anonymous',
      Array.from({ length: ISSUES }, (_, i) => ({
        ...issue(`race-issue-${i}`, `race-rp-${i}`, 'race-o'),
        expectedVersion: undefined,
        payload: { orderId: 'race-o', accountId: 'rb', amount: 66 },
      })),
    );
    const outcomes = await Promise.all(Array.from({ length: ISSUES }, (_, i) => waitForTerminal(db.pool, `race-issue-${i}`)));
    const winners = outcomes.filter((o) => o.status === 'succeeded');
    expect(winners).toHaveLength(1);
    const winner = winners[0]!.entityId;
    for (const loser of outcomes.filter((o) => o.status !== 'succeeded')) {
      expect(loser).toMatchObject({ status: 'rejected', error: { code: 'already_issued', details: { redPacketId: winner } } });
    }
    // No attempt ever threw (a unique violation would show as a retry): every issue ended on its first attempt.
    expect(outcomes.map((o) => o.attempts)).toEqual(Array(ISSUES).fill(1));
    const { rows } = await db.pool.query(`SELECT id FROM red_packets WHERE order_id = 'race-o'`);
    expect(rows).toEqual([{ id: winner }]);
  });

  it('make one live red packet per round while the previous one is cancelled in between', async () => {
    await createOrder('race-o2');
    const live: string[] = [];
    for (let round = 0; round < 3; round++) {
      await system.commands.submit(
        'anonymous',
        Array.from({ length: 4 }, (_, i) => ({
          id: `race-r${round}-issue-${i}`,
          type: 'redPacket.issue',
          entityId: `race-r${round}-rp-${i}`,
          expectedVersion: undefined,
          payload: { orderId: 'race-o2', accountId: 'rb', amount: 5 },
        })),
      );
      const outcomes = await Promise.all(Array.from({ length: 4 }, (_, i) => waitForTerminal(db.pool, `race-r${round}-issue-${i}`)));
      const winners = outcomes.filter((o) => o.status === 'succeeded');
      expect(winners).toHaveLength(1);
      live.push(winners[0]!.entityId);
      expect((await run({ id: `race-r${round}-cancel`, type: 'redPacket.cancel', entityId: winners[0]!.entityId })).status).toBe('succeeded');
    }
    const { rows } = await db.pool.query(`SELECT id, status FROM red_packets WHERE order_id = 'race-o2' ORDER BY id`);
    expect(rows).toEqual(live.map((id) => ({ id, status: 'CANCELLED' })).sort((a, b) => a.id.localeCompare(b.id)));
  });
});
