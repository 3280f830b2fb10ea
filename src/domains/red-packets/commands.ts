import { z } from 'zod';
import { defineCommand, type Sql } from '../../core/command.ts';
import { Amount, Identifier, type Command } from '../../core/envelope.ts';
import { notFound, rejected, succeeded, versionConflict, type Outcome } from '../../core/outcome.ts';
import { creationConflict } from '../../processor/entity.ts';
import { accountVersion, lockReferencedAccount, postToAccount } from '../accounts/store.ts';
import { shareOrder } from '../orders/store.ts';
import { RED_PACKET_TRANSITIONS, alreadyIssued, decideIssue, decideRedPacket, decideRedPacketPay, type RedPacket } from './model.ts';
import { insertRedPacket, liveRedPacketOf, lockRedPacket, moveRedPacket, redPacketVersion } from './store.ts';

const view = (redPacket: RedPacket) => ({ status: redPacket.status, version: redPacket.version });
const NoPayload = z.strictObject({});

/** How often issue retries when the red packet that blocked it was cancelled before it could be named. */
const ISSUE_ATTEMPTS = 3;

async function withRedPacket(sql: Sql, command: Command, act: (redPacket: RedPacket) => Promise<Outcome>): Promise<Outcome> {
  const redPacket = await lockRedPacket(sql, command.entityId);
  if (!redPacket) return notFound('red packet', command.entityId);
  if (command.expectedVersion !== undefined && redPacket.version !== command.expectedVersion) {
    return versionConflict(command.expectedVersion, redPacket.version);
  }
  return act(redPacket);
}

export const issueRedPacket = defineCommand({
  type: 'redPacket.issue',
  summary: 'Issue a red packet for an order (entityId is the new red packet id); at most one live red packet per order.',
  payload: z.strictObject({ orderId: Identifier, accountId: Identifier, amount: Amount }),
  async handle({ sql, command }) {
    const { orderId, accountId, amount } = command.payload;
    // FOR SHARE: concurrent issues for one order all get here, so the unique index (not this lock)
    // decides between them; a cancel of the order waits until this transaction ends.
    const eligible = decideIssue(await shareOrder(sql, orderId), orderId);
    if (!eligible.ok) return eligible.outcome;
    if ((await accountVersion(sql, accountId)) === null) return notFound('account', accountId);

    for (let attempt = 1; attempt <= ISSUE_ATTEMPTS; attempt++) {
      const issued = await insertRedPacket(sql, { id: command.entityId, orderId, accountId, amount });
      if (issued) return creationConflict(command, null) ?? succeeded(view(issued));
      const existing = await redPacketVersion(sql, command.entityId);
      if (existing !== null) {
        return creationConflict(command, existing) ?? rejected('already_exists', `red packet ${command.entityId} already exists`);
      }
      const live = await liveRedPacketOf(sql, orderId);
      if (live !== null) return alreadyIssued(orderId, live);
      // The red packet that held the order was cancelled between the insert and the read: try again.
    }
    throw new Error(`red packet ${command.entityId}: order ${orderId} kept changing during issue`);
  },
});

export const payRedPacket = defineCommand({
  type: 'redPacket.pay',
  summary: "CREATED -> PAID, crediting the red packet's amount to its account in the same transaction.",
  payload: NoPayload,
  handle: ({ sql, command }) =>
    withRedPacket(sql, command, async (redPacket) => {
      const illegal = decideRedPacket(redPacket, 'pay');
      if (!illegal.ok) return illegal.outcome;
      const account = await lockReferencedAccount(sql, redPacket.accountId, `red packet ${redPacket.id}`);
      const decision = decideRedPacketPay(redPacket, account);
      if (!decision.ok) return decision.outcome;
      const paid = await moveRedPacket(sql, redPacket, RED_PACKET_TRANSITIONS.pay);
      await postToAccount(sql, command, account, redPacket.amount);
      return succeeded(view(paid));
    }),
});

export const cancelRedPacket = defineCommand({
  type: 'redPacket.cancel',
  summary: 'CREATED -> CANCELLED, which frees the order for a new red packet.',
  payload: NoPayload,
  handle: ({ sql, command }) =>
    withRedPacket(sql, command, async (redPacket) => {
      const decision = decideRedPacket(redPacket, 'cancel');
      if (!decision.ok) return decision.outcome;
      return succeeded(view(await moveRedPacket(sql, redPacket, RED_PACKET_TRANSITIONS.cancel)));
    }),
});

export const redPacketCommands = [issueRedPacket, payRedPacket, cancelRedPacket];
