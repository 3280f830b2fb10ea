import { z } from 'zod';
import { defineCommand } from '../../core/command.ts';
import { Amount, Identifier } from '../../core/envelope.ts';
import { accept, notFound, succeeded } from '../../core/outcome.ts';
import { lookup, rowKey } from '../../core/table.ts';
import { createEntity } from '../../processor/entity.ts';
import { accountRows, postToAccount, referencedAccount } from '../accounts/rows.ts';
import { defineEntityCommand } from '../entity-command.ts';
import { orderRows } from '../orders/rows.ts';
import { alreadyIssued, decideIssue, decideRedPacket, decideRedPacketPay, isLive, type RedPacket } from './model.ts';
import { redPacket, redPacketRows } from './rows.ts';

const view = (saved: RedPacket) => ({ status: saved.status, version: saved.version });

export const issueRedPacket = defineCommand({
  type: 'redPacket.issue',
  summary: 'Issue a red packet for an order (entityId is the new red packet id); at most one live red packet per order.',
  payload: z.strictObject({ orderId: Identifier, accountId: Identifier, amount: Amount }),
  // The order's lock is what serialises every issue for one order (a new red packet names its order, and
  // only issue creates one), so the order's live red packets read after it cannot change under us except
  // by a cancel, which only frees the slot. The partial unique index red_packets_one_live_per_order stays
  // as the last line of defence: a breach aborts the batch, never stores a second live red packet.
  plan: (command) => ({
    lock: [rowKey(redPacketRows, command.entityId), rowKey(orderRows, command.payload.orderId), rowKey(accountRows, command.payload.accountId)],
    lookups: [lookup(redPacketRows, 'orderId', command.payload.orderId)],
  }),
  decide(command, state) {
    const { orderId, accountId, amount } = command.payload;
    const eligible = decideIssue(state.get(orderRows, orderId) ?? null, orderId);
    if (!eligible.ok) return eligible.outcome;
    if (!state.get(accountRows, accountId)) return notFound('account', accountId);
    const created = createEntity(state, redPacket, command, () => {
      const [live] = state.find(redPacketRows, (row) => row.orderId === orderId && isLive(row));
      return live ? alreadyIssued(orderId, live.id) : accept({ orderId, accountId, amount, status: 'CREATED' });
    });
    return created.ok ? succeeded(view(created.row)) : created.outcome;
  },
});

export const payRedPacket = defineEntityCommand(redPacket, {
  type: 'redPacket.pay',
  summary: "CREATED -> PAID, crediting the red packet's amount to its account in the same transaction.",
  plan: (command) => ({
    lock: [rowKey(redPacketRows, command.entityId)],
    then: (state) => {
      const found = state.get(redPacketRows, command.entityId);
      return found ? [rowKey(accountRows, found.accountId)] : [];
    },
  }),
  act(current, command, state) {
    const illegal = decideRedPacket(current, 'pay');
    if (!illegal.ok) return illegal.outcome;
    const account = referencedAccount(state, current.accountId, `red packet ${current.id}`);
    const decision = decideRedPacketPay(current, account);
    if (!decision.ok) return decision.outcome;
    const paid = state.update(redPacketRows, decision.state.redPacket);
    const credited = postToAccount(state, command, account, decision.state.account);
    state.emit({
      type: 'redPacket.paid',
      entityId: paid.id,
      payload: { orderId: paid.orderId, accountId: paid.accountId, amount: paid.amount, status: paid.status, version: paid.version, balance: credited.balance },
    });
    return succeeded(view(paid));
  },
});

export const cancelRedPacket = defineEntityCommand(redPacket, {
  type: 'redPacket.cancel',
  summary: 'CREATED -> CANCELLED, which frees the order for a new red packet.',
  plan: (command) => ({ lock: [rowKey(redPacketRows, command.entityId)] }),
  act(current, _command, state) {
    const decision = decideRedPacket(current, 'cancel');
    return decision.ok ? succeeded(view(state.update(redPacketRows, decision.state))) : decision.outcome;
  },
});

export const redPacketCommands = [issueRedPacket, payRedPacket, cancelRedPacket];
