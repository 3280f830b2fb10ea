import { accept, refuse, type Decision } from '../../core/outcome.ts';
import type { RowOf } from '../../core/table.ts';
import { credit, type Account } from '../accounts/model.ts';
import { transition, type Order, type Transition } from '../orders/model.ts';
import type { redPackets } from './table.ts';

export const RED_PACKET_STATUSES = ['CREATED', 'PAID', 'CANCELLED'] as const;
export type RedPacketStatus = (typeof RED_PACKET_STATUSES)[number];

/** A red packet as decisions see it: its table's row (`{ id, orderId, accountId, amount, status, version }`). */
export type RedPacket = RowOf<typeof redPackets>;

/** The red packet state machine, written down once: CREATED -> PAID, CREATED -> CANCELLED. */
export const RED_PACKET_TRANSITIONS = {
  pay: { from: ['CREATED'], to: 'PAID' },
  cancel: { from: ['CREATED'], to: 'CANCELLED' },
} as const satisfies Record<string, Transition<RedPacketStatus>>;

export type RedPacketAction = keyof typeof RED_PACKET_TRANSITIONS;

/** A red packet is live until it is cancelled; an order has at most one live red packet. */
export function isLive(redPacket: Pick<RedPacket, 'status'>): boolean {
  return redPacket.status !== 'CANCELLED';
}

/**
 * Whether an order may get a red packet, before looking at the red packets it already has (read after
 * the order's lock, which every issue for the order takes; see redPacket.issue).
 */
export function decideIssue(order: Pick<Order, 'id' | 'status'> | null, orderId: string): Decision<null> {
  if (!order) return refuse('not_found', `order ${orderId} does not exist`, { id: orderId });
  if (order.status === 'CANCELLED') {
    return refuse('order_not_eligible', `order ${order.id} is CANCELLED`, { orderId: order.id, status: order.status });
  }
  return accept(null);
}

/** The refusal for an order that already has a live red packet. */
export function alreadyIssued(orderId: string, redPacketId: string): Decision<never> {
  return refuse('already_issued', `order ${orderId} already has red packet ${redPacketId}`, { redPacketId });
}

export function decideRedPacket(redPacket: RedPacket, action: RedPacketAction): Decision<RedPacket> {
  return transition<RedPacketStatus, RedPacket>(redPacket, RED_PACKET_TRANSITIONS[action]);
}

/** Paying moves the red packet to PAID and credits its amount to the account, or neither. */
export function decideRedPacketPay(redPacket: RedPacket, account: Account): Decision<{ redPacket: RedPacket; account: Account }> {
  const paid = decideRedPacket(redPacket, 'pay');
  if (!paid.ok) return paid;
  const credited = credit(account, redPacket.amount);
  if (!credited.ok) return credited;
  return accept({ redPacket: paid.state, account: credited.state });
}
