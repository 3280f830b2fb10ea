// The red packet rules as given/when/then tables: no database, only the pure decisions.
import { describe, expect, it } from 'vitest';
import type { Account } from '../../src/domains/accounts/model.ts';
import type { OrderStatus } from '../../src/domains/orders/model.ts';
import {
  RED_PACKET_TRANSITIONS,
  alreadyIssued,
  decideIssue,
  decideRedPacket,
  decideRedPacketPay,
  isLive,
  type RedPacket,
  type RedPacketAction,
  type RedPacketStatus,
} from '../../src/domains/red-packets/model.ts';

const redPacket = (status: RedPacketStatus, amount = 88): RedPacket => ({ id: 'rp1', orderId: 'o1', accountId: 'a1', amount, status, version: 2 });
const account = (balance: number): Account => ({ id: 'a1', currency: 'CNY', balance, version: 3 });

describe('issuing a red packet', () => {
  const cases: Array<[given: OrderStatus | 'missing', then: 'ok' | 'not_found' | 'order_not_eligible']> = [
    ['missing', 'not_found'],
    ['CREATED', 'ok'],
    ['PAID', 'ok'],
    ['DELIVERED', 'ok'],
    ['COMPLETED', 'ok'],
    ['CANCELLED', 'order_not_eligible'],
  ];
  it.each(cases)('given an order that is %s, then %s', (given, then) => {
    const decision = decideIssue(given === 'missing' ? null : { id: 'o1', status: given }, 'o1');
    if (then === 'ok') expect(decision).toEqual({ ok: true, state: null });
    else expect(decision).toMatchObject({ ok: false, outcome: { status: 'rejected', error: { code: then } } });
  });

  it('names the live red packet when the order already has one', () => {
    expect(alreadyIssued('o1', 'rp0')).toMatchObject({ status: 'rejected', error: { code: 'already_issued', details: { redPacketId: 'rp0' } } });
  });

  it.each([
    ['CREATED', true],
    ['PAID', true],
    ['CANCELLED', false],
  ] as const)('a %s red packet is live: %s', (status, live) => {
    expect(isLive({ status })).toBe(live);
  });
});

describe('red packet state machine', () => {
  const table: Array<[given: RedPacketStatus, when: RedPacketAction, then: RedPacketStatus | 'illegal']> = [
    ['CREATED', 'pay', 'PAID'],
    ['CREATED', 'cancel', 'CANCELLED'],
    ['PAID', 'pay', 'illegal'],
    ['PAID', 'cancel', 'illegal'],
    ['CANCELLED', 'pay', 'illegal'],
    ['CANCELLED', 'cancel', 'illegal'],
  ];
  it.each(table)('given %s, when %s, then %s', (given, when, then) => {
    const decision = decideRedPacket(redPacket(given), when);
    if (then === 'illegal') {
      expect(decision).toMatchObject({
        ok: false,
        outcome: { status: 'rejected', error: { code: 'illegal_transition', details: { from: given, to: RED_PACKET_TRANSITIONS[when].to } } },
      });
    } else {
      expect(decision).toEqual({ ok: true, state: { ...redPacket(given), status: then } });
    }
  });

  it('pays a CREATED red packet into the account', () => {
    expect(decideRedPacketPay(redPacket('CREATED'), account(12))).toEqual({
      ok: true,
      state: { redPacket: { ...redPacket('CREATED'), status: 'PAID' }, account: account(100) },
    });
  });

  it('does not pay a red packet twice', () => {
    expect(decideRedPacketPay(redPacket('PAID'), account(12))).toMatchObject({ ok: false, outcome: { error: { code: 'illegal_transition' } } });
  });
});
