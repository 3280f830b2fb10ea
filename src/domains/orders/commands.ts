import { z } from 'zod';
import { defineCommand, type BatchState } from '../../core/command.ts';
import { Amount, Identifier, type Command } from '../../core/envelope.ts';
import { accept, notFound, succeeded } from '../../core/outcome.ts';
import { rowKey, type RowKey } from '../../core/table.ts';
import { createEntity } from '../../processor/entity.ts';
import { accountRows, postToAccount, referencedAccount } from '../accounts/rows.ts';
import { defineEntityCommand } from '../entity-command.ts';
import { decideCancel, decideOrder, decidePay, type Order } from './model.ts';
import { order, orderRows } from './rows.ts';

const view = (saved: Order) => ({ status: saved.status, version: saved.version });

/** Lock plan of every command on an existing order: the order, then (phase two) the account it names. */
const orderThenAccount = (command: Command) => ({
  lock: [rowKey(orderRows, command.entityId)],
  then: (state: Pick<BatchState, 'get'>): RowKey[] => {
    const found = state.get(orderRows, command.entityId);
    return found ? [rowKey(accountRows, found.accountId)] : [];
  },
});

export const createOrder = defineCommand({
  type: 'order.create',
  summary: 'Create an order in CREATED for an existing account (entityId is the new order id).',
  payload: z.strictObject({ accountId: Identifier, amount: Amount }),
  plan: (command) => ({ lock: [rowKey(orderRows, command.entityId), rowKey(accountRows, command.payload.accountId)] }),
  decide(command, state) {
    const { accountId, amount } = command.payload;
    if (!state.get(accountRows, accountId)) return notFound('account', accountId);
    const created = createEntity(state, order, command, () => accept({ accountId, amount, status: 'CREATED' }));
    return created.ok ? succeeded(view(created.row)) : created.outcome;
  },
});

export const payOrder = defineEntityCommand(order, {
  type: 'order.pay',
  summary: "CREATED -> PAID, debiting the order's amount from its account in the same transaction.",
  plan: orderThenAccount,
  act(current, command, state) {
    const illegal = decideOrder(current, 'pay');
    if (!illegal.ok) return illegal.outcome;
    const account = referencedAccount(state, current.accountId, `order ${current.id}`);
    const decision = decidePay(current, account);
    if (!decision.ok) return decision.outcome;
    const paid = state.update(orderRows, decision.state.order);
    const debited = postToAccount(state, command, account, decision.state.account);
    state.emit({
      type: 'order.paid',
      entityId: paid.id,
      payload: { accountId: paid.accountId, amount: paid.amount, status: paid.status, version: paid.version, balance: debited.balance },
    });
    return succeeded(view(paid));
  },
});

/** A transition that moves nothing but the order itself. */
const plainTransition = <const T extends string>(type: T, summary: string, action: 'ship' | 'complete') =>
  defineEntityCommand(order, {
    type,
    summary,
    plan: (command) => ({ lock: [rowKey(orderRows, command.entityId)] }),
    act(current, _command, state) {
      const decision = decideOrder(current, action);
      return decision.ok ? succeeded(view(state.update(orderRows, decision.state))) : decision.outcome;
    },
  });

export const shipOrder = plainTransition('order.ship', 'PAID -> DELIVERED.', 'ship');

export const completeOrder = plainTransition('order.complete', 'DELIVERED -> COMPLETED.', 'complete');

export const cancelOrder = defineEntityCommand(order, {
  type: 'order.cancel',
  summary: "CREATED or PAID -> CANCELLED; a PAID order's amount is credited back to its account.",
  plan: orderThenAccount,
  act(current, command, state) {
    const account = referencedAccount(state, current.accountId, `order ${current.id}`);
    const decision = decideCancel(current, account);
    if (!decision.ok) return decision.outcome;
    const cancelled = state.update(orderRows, decision.state.order);
    const refunded = decision.state.account ? postToAccount(state, command, account, decision.state.account) : undefined;
    state.emit({
      type: 'order.cancelled',
      entityId: cancelled.id,
      payload: {
        accountId: cancelled.accountId,
        amount: cancelled.amount,
        refunded: refunded ? cancelled.amount : 0,
        status: cancelled.status,
        version: cancelled.version,
      },
    });
    return succeeded(view(cancelled));
  },
});

export const orderCommands = [createOrder, payOrder, shipOrder, completeOrder, cancelOrder];
