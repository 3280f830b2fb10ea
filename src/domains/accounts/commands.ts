import { z } from 'zod';
import { defineCommand } from '../../core/command.ts';
import { Amount, Identifier } from '../../core/envelope.ts';
import { accept, notFound, rejected, succeeded, versionConflict } from '../../core/outcome.ts';
import { rowKey } from '../../core/table.ts';
import { createEntity, target } from '../../processor/entity.ts';
import { credit, debit, transfer, type Account } from './model.ts';
import { account, accountRows, postToAccount } from './rows.ts';

const view = (saved: Account) => ({ balance: saved.balance, version: saved.version });

export const openAccount = defineCommand({
  type: 'account.open',
  summary: 'Open an account with balance 0 (entityId is the new account id).',
  payload: z.strictObject({
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be 3 capital letters')
      .default('CNY'),
  }),
  plan: (command) => ({ lock: [rowKey(accountRows, command.entityId)] }),
  decide(command, state) {
    const created = createEntity(state, account, command, () => accept({ currency: command.payload.currency, balance: 0 }));
    return created.ok ? succeeded(view(created.row)) : created.outcome;
  },
});

const moveMoney = (direction: 1 | -1) =>
  defineCommand({
    type: direction === 1 ? 'account.credit' : 'account.debit',
    summary:
      direction === 1
        ? 'Add amount (minor units) to an account.'
        : 'Take amount (minor units) from an account; rejected with insufficient_funds if it would go negative.',
    payload: z.strictObject({ amount: Amount }),
    plan: (command) => ({ lock: [rowKey(accountRows, command.entityId)] }),
    decide(command, state) {
      const found = target(state, account, command);
      if (!found.ok) return found.outcome;
      const { amount } = command.payload;
      const decision = direction === 1 ? credit(found.row, amount) : debit(found.row, amount);
      if (!decision.ok) return decision.outcome;
      return succeeded(view(postToAccount(state, command, found.row, decision.state)));
    },
  });

export const creditAccount = moveMoney(1);
export const debitAccount = moveMoney(-1);

export const transferMoney = defineCommand({
  type: 'account.transfer',
  summary: 'Move amount from the source account (entityId) to `to`, both in one transaction.',
  payload: z.strictObject({ to: Identifier, amount: Amount }),
  plan: (command) => ({ lock: [rowKey(accountRows, command.entityId), rowKey(accountRows, command.payload.to)] }),
  decide(command, state) {
    const { to, amount } = command.payload;
    if (to === command.entityId) return rejected('same_account', 'cannot transfer to the same account');
    const source = state.get(accountRows, command.entityId);
    const target = state.get(accountRows, to);
    if (!source) return notFound('account', command.entityId);
    if (!target) return notFound('account', to);
    if (command.expectedVersion !== undefined && source.version !== command.expectedVersion) {
      return versionConflict(command.expectedVersion, source.version);
    }
    const decision = transfer(source, target, amount);
    if (!decision.ok) return decision.outcome;
    const from = postToAccount(state, command, source, decision.state.from);
    const into = postToAccount(state, command, target, decision.state.to);
    return succeeded({ from: view(from), to: view(into) });
  },
});

export const accountCommands = [openAccount, creditAccount, debitAccount, transferMoney];
