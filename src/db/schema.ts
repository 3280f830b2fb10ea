// oncely's own tables. Each domain's tables live in its folder (src/domains/*/table.ts) and reach drizzle-kit
// through drizzle.config.ts's globs, so adding a domain never edits this file.
export { commands } from './commands-table.ts';
export { outboxEvents } from './outbox-table.ts';
