// oncely's reference domains, opt-in: `import { referenceDomains } from 'oncely/reference'`. Accounts with
// a ledger, orders and red packets: the demo `npm start` serves and the teaching material of docs/patterns.md.
// The engine never serves them unless they are passed: `createOncely({ databaseUrl, domains: referenceDomains })`.

/**
 * The reference domains (accounts, orders, red packets), each alone or all three in their documented order.
 *
 * @example
 * const oncely = createOncely({ databaseUrl, domains: [...referenceDomains, stockDomain] });
 */
export { accountsDomain, ordersDomain, redPacketsDomain, referenceDomains } from './domains/index.ts';

/**
 * Their command types, to test against or to compose with (`given(accountRows, rows).when(creditAccount, ...)`).
 *
 * @example
 * given(accountRows, [{ id: 'a1', currency: 'CNY', balance: 0, version: 1 }]).when(creditAccount, { entityId: 'a1', payload: { amount: 5 } });
 */
export { creditAccount, debitAccount, openAccount, transferMoney } from './domains/accounts/commands.ts';
export { cancelOrder, completeOrder, createOrder, payOrder, shipOrder } from './domains/orders/commands.ts';
export { cancelRedPacket, issueRedPacket, payRedPacket } from './domains/red-packets/commands.ts';

/**
 * Their row descriptors, derived from their drizzle tables, and the row types derived from those.
 *
 * @example
 * const account: Account = { id: 'a1', currency: 'CNY', balance: 0, version: 1 };
 */
export { accountRows, ledgerRows, type Account, type LedgerEntry } from './domains/accounts/rows.ts';
export { orderRows, type Order } from './domains/orders/rows.ts';
export { redPacketRows, type RedPacket } from './domains/red-packets/rows.ts';

/**
 * Their drizzle tables (what their migrations create).
 *
 * @example
 * const [row] = await db.select().from(accounts).where(eq(accounts.id, 'a1'));
 */
export { accounts, ledgerEntries } from './domains/accounts/table.ts';
export { orders } from './domains/orders/table.ts';
export { redPackets } from './domains/red-packets/table.ts';

/**
 * The typed HTTP client of a server that serves them, with their named reads.
 *
 * @example
 * const oncely = createReferenceClient({ baseUrl: 'http://127.0.0.1:3000' });
 * const account = await oncely.account('acc-1');
 */
export { createReferenceClient, type ReferenceClient, type ReferenceEntities } from './client/reference.ts';
