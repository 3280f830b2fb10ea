import { accept, refuse, type Decision } from '../../core/outcome.ts';
import type { RowOf } from '../../core/table.ts';
import { credit, debit, type Account } from '../accounts/model.ts';
import type { orders } from './table.ts';

export const ORDER_STATUSES = ['CREATED', 'PAID', 'DELIVERED', 'COMPLETED', 'CANCELLED'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** An order as decisions see it: its table's row (`{ id, accountId, amount, status, version }`). */
export type Order = RowOf<typeof orders>;

/** One edge of a state machine: the states it may start from and the state it ends in. */
export interface Transition<S extends string> {
  from: readonly S[];
  to: S;
}

/**
 * The order state machine, written down once. The pure decisions below read it under the order's lock
 * (and the versioned UPDATE makes sure the row is still the one decided on); moveOrder in store.ts writes
 * the same edges as guarded statements for handler-style code.
 *
 *   CREATED -> PAID -> DELIVERED -> COMPLETED, and CREATED | PAID -> CANCELLED
 */
export const ORDER_TRANSITIONS = {
  pay: { from: ['CREATED'], to: 'PAID' },
  ship: { from: ['PAID'], to: 'DELIVERED' },
  complete: { from: ['DELIVERED'], to: 'COMPLETED' },
  cancel: { from: ['CREATED', 'PAID'], to: 'CANCELLED' },
} as const satisfies Record<string, Transition<OrderStatus>>;

export type OrderAction = keyof typeof ORDER_TRANSITIONS;

/**
 * Moves any entity with a status along one edge of its state machine, or refuses with
 * `illegal_transition` and `{ from, to }`.
 *
 * @example
 * transition({ id: 'o1', status: 'CANCELLED' }, ORDER_TRANSITIONS.pay); // refused: { from: 'CANCELLED', to: 'PAID' }
 */
export function transition<S extends string, E extends { id: string; status: S }>(entity: E, edge: Transition<S>): Decision<E> {
  if (!edge.from.includes(entity.status)) {
    return refuse('illegal_transition', `${entity.id} is ${entity.status} and cannot become ${edge.to}`, {
      from: entity.status,
      to: edge.to,
    });
  }
  return accept({ ...entity, status: edge.to });
}

/** ship, complete, and the state half of pay and cancel. */
export function decideOrder(order: Order, action: OrderAction): Decision<Order> {
  return transition<OrderStatus, Order>(order, ORDER_TRANSITIONS[action]);
}

/** Paying moves the order to PAID and debits its account the order's amount, or neither. */
export function decidePay(order: Order, account: Account): Decision<{ order: Order; account: Account }> {
  const paid = decideOrder(order, 'pay');
  if (!paid.ok) return paid;
  const debited = debit(account, order.amount);
  if (!debited.ok) return debited;
  return accept({ order: paid.state, account: debited.state });
}

/** What cancelling owes the account: a PAID order's amount goes back, a CREATED order took nothing. */
export function refundFor(order: Order): number {
  return order.status === 'PAID' ? order.amount : 0;
}

/** Cancelling moves the order to CANCELLED and, if it was PAID, credits its amount back. */
export function decideCancel(order: Order, account: Account | null): Decision<{ order: Order; account: Account | null }> {
  const cancelled = decideOrder(order, 'cancel');
  if (!cancelled.ok) return cancelled;
  const refund = refundFor(order);
  if (refund === 0) return accept({ order: cancelled.state, account: null });
  if (!account) throw new Error(`order ${order.id} was paid but its account was not loaded`);
  const credited = credit(account, refund);
  if (!credited.ok) return credited;
  return accept({ order: cancelled.state, account: credited.state });
}
