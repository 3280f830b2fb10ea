import type { Sql } from '../../core/command.ts';
import { GuardViolation, guardedTransition } from '../../processor/sql.ts';
import type { Order, OrderStatus, Transition } from './model.ts';
import { orderRows } from './rows.ts';

// For handler-style (imperative) commands; the reference commands write through the set-based batch.

/**
 * Writes one edge of the state machine as one guarded statement (`status = ANY(from) AND version = v`).
 * The row is locked and the decision already made, so a miss means the code is wrong, not the request:
 * it aborts the transaction instead of writing a state the machine does not allow.
 */
export async function moveOrder(sql: Sql, order: Order, edge: Transition<OrderStatus>): Promise<Order> {
  const version = await guardedTransition(sql, orderRows, order.id, edge.from, edge.to, order.version);
  if (version === null) throw new GuardViolation(`order ${order.id} is not ${edge.from.join(' or ')} at version ${order.version}`);
  return { ...order, status: edge.to, version };
}
