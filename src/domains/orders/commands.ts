import { z } from 'zod';
import { defineCommand, type CommandContext, type Sql } from '../../core/command.ts';
import { Amount, Identifier, type Command } from '../../core/envelope.ts';
import { notFound, rejected, succeeded, versionConflict, type Outcome } from '../../core/outcome.ts';
import { creationConflict } from '../../processor/entity.ts';
import type { Account } from '../accounts/model.ts';
import { accountVersion, lockReferencedAccount, postToAccount } from '../accounts/store.ts';
import { ORDER_TRANSITIONS, decideCancel, decideOrder, decidePay, refundFor, type Order } from './model.ts';
import { insertOrder, lockOrder, moveOrder, orderVersion } from './store.ts';

const view = (order: Order) => ({ status: order.status, version: order.version });
const NoPayload = z.strictObject({});

/**
 * The shape of every order command after creation: lock the order, check `expectedVersion`, then act.
 * The lock makes the decision and the write see the same row, so racing commands apply one after another.
 */
async function withOrder(sql: Sql, command: Command, act: (order: Order) => Promise<Outcome>): Promise<Outcome> {
  const order = await lockOrder(sql, command.entityId);
  if (!order) return notFound('order', command.entityId);
  if (command.expectedVersion !== undefined && order.version !== command.expectedVersion) {
    return versionConflict(command.expectedVersion, order.version);
  }
  return act(order);
}

/** The order's account, locked after the order (the one lock order every command follows). */
const lockAccountOf = (sql: Sql, order: Order): Promise<Account> => lockReferencedAccount(sql, order.accountId, `order ${order.id}`);

export const createOrder = defineCommand({
  type: 'order.create',
  summary: 'Create an order in CREATED for an existing account (entityId is the new order id).',
  payload: z.strictObject({ accountId: Identifier, amount: Amount }),
  async handle({ sql, command }) {
    const { accountId, amount } = command.payload;
    if ((await accountVersion(sql, accountId)) === null) return notFound('account', accountId);
    const order = await insertOrder(sql, { id: command.entityId, accountId, amount });
    if (!order) {
      const existing = await orderVersion(sql, command.entityId);
      return creationConflict(command, existing) ?? rejected('already_exists', `order ${command.entityId} already exists`);
    }
    return creationConflict(command, null) ?? succeeded(view(order));
  },
});

export const payOrder = defineCommand({
  type: 'order.pay',
  summary: "CREATED -> PAID, debiting the order's amount from its account in the same transaction.",
  payload: NoPayload,
  handle: ({ sql, command }) =>
    withOrder(sql, command, async (order) => {
      const illegal = decideOrder(order, 'pay');
      if (!illegal.ok) return illegal.outcome;
      const account = await lockAccountOf(sql, order);
      const decision = decidePay(order, account);
      if (!decision.ok) return decision.outcome;
      const paid = await moveOrder(sql, order, ORDER_TRANSITIONS.pay);
      await postToAccount(sql, command, account, -order.amount);
      return succeeded(view(paid));
    }),
});

/** A transition that moves nothing but the order itself. */
const plainTransition = (action: 'ship' | 'complete') =>
  ({ sql, command }: CommandContext<Record<string, never>>) =>
    withOrder(sql, command, async (order) => {
      const decision = decideOrder(order, action);
      if (!decision.ok) return decision.outcome;
      return succeeded(view(await moveOrder(sql, order, ORDER_TRANSITIONS[action])));
    });

export const shipOrder = defineCommand({
  type: 'order.ship',
  summary: 'PAID -> DELIVERED.',
  payload: NoPayload,
  handle: plainTransition('ship'),
});

export const completeOrder = defineCommand({
  type: 'order.complete',
  summary: 'DELIVERED -> COMPLETED.',
  payload: NoPayload,
  handle: plainTransition('complete'),
});

export const cancelOrder = defineCommand({
  type: 'order.cancel',
  summary: "CREATED or PAID -> CANCELLED; a PAID order's amount is credited back to its account.",
  payload: NoPayload,
  handle: ({ sql, command }) =>
    withOrder(sql, command, async (order) => {
      const refund = refundFor(order);
      const account = refund > 0 ? await lockAccountOf(sql, order) : null;
      const decision = decideCancel(order, account);
      if (!decision.ok) return decision.outcome;
      const cancelled = await moveOrder(sql, order, ORDER_TRANSITIONS.cancel);
      if (account) await postToAccount(sql, command, account, refund);
      return succeeded(view(cancelled));
    }),
});

export const orderCommands = [createOrder, payOrder, shipOrder, completeOrder, cancelOrder];
