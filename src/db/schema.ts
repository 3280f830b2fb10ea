// Every table, in one module for drizzle-kit and typed reads.
export { commands } from './commands-table.ts';
export { accounts, ledgerEntries } from '../domains/accounts/table.ts';
export { orders } from '../domains/orders/table.ts';
export { redPackets } from '../domains/red-packets/table.ts';
