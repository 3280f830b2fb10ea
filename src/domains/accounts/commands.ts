import { z } from 'zod';
import { defineCommand, type CommandContext } from '../../core/command.ts';
import { Amount, Identifier } from '../../core/envelope.ts';
import { notFound, rejected, succeeded, versionConflict } from '../../core/outcome.ts';
import { changeEntity, creationConflict } from '../../processor/entity.ts';
import { credit, debit, transfer, type Account } from './model.ts';
import { accountStore, accountVersion, appendLedger, insertAccount, lockAccounts, postToAccount } from './store.ts';

const view = (account: Account) => ({ balance: account.balance, version: account.version });

export const openAccount = defineCommand({
  type: 'account.open',
  summary: 'Open an account with balance 0 (entityId is the new account id).',
  payload: z.strictObject({ currency: z.string().regex(/^[A-Z]{3}$/, 'must be 3 capital letters').default('CNY') }),
  async handle({ sql, command }) {
    const account = await insertAccount(sql, command.entityId, command.payload.currency);
    if (!account) {
      const existing = await accountVersion(sql, command.entityId);
      return creationConflict(command, existing) ?? rejected('already_exists', `account ${command.entityId} already exists`);
    }
    return creationConflict(command, null) ?? succeeded(view(account));
  },
});

const moveMoney = (direction: 1 | -1) =>
  async function handle({ sql, command }: CommandContext<{ amount: number }>) {
    const { amount } = command.payload;
    return changeEntity(
      sql,
      command,
      accountStore,
      (account) => (direction === 1 ? credit(account, amount) : debit(account, amount)),
      view,
      (saved) =>
        appendLedger(sql, {
          accountId: saved.id,
          clientId: command.clientId,
          commandId: command.id,
          amount: direction * amount,
          balanceAfter: saved.balance,
        }),
    );
  };

export const creditAccount = defineCommand({
  type: 'account.credit',
  summary: 'Add amount (minor units) to an account.',
  payload: z.strictObject({ amount: Amount }),
  handle: (ctx) => moveMoney(1)(ctx),
});

export const debitAccount = defineCommand({
  type: 'account.debit',
  summary: 'Take amount (minor units) from an account; rejected with insufficient_funds if it would go negative.',
  payload: z.strictObject({ amount: Amount }),
  handle: (ctx) => moveMoney(-1)(ctx),
});

export const transferMoney = defineCommand({
  type: 'account.transfer',
  summary: 'Move amount from the source account (entityId) to `to`, both in one transaction.',
  payload: z.strictObject({ to: Identifier, amount: Amount }),
  async handle({ sql, command }) {
    const { to, amount } = command.payload;
    if (to === command.entityId) return rejected('same_account', 'cannot transfer to the same account');
    // Both rows locked in id order: opposite transfers cannot deadlock.
    const locked = await lockAccounts(sql, [command.entityId, to]);
    const source = locked.get(command.entityId);
    const target = locked.get(to);
    if (!source) return notFound('account', command.entityId);
    if (!target) return notFound('account', to);
    if (command.expectedVersion !== undefined && source.version !== command.expectedVersion) {
      return versionConflict(command.expectedVersion, source.version);
    }
    const decision = transfer(source, target, amount);
    if (!decision.ok) return decision.outcome;
    const from = await postToAccount(sql, command, source, -amount);
    const into = await postToAccount(sql, command, target, amount);
    return succeeded({ from: view(from), to: view(into) });
  },
});

export const accountCommands = [openAccount, creditAccount, debitAccount, transferMoney];
