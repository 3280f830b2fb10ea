// oncely's public API: `import { defineCommand, defineDomain, createOncely, submit } from 'oncely'`.
// Everything a domain of your own needs (commands, tables, reads, outcomes) and everything to run it inside
// your application (createOncely, submit inside your own transaction). Nothing else under src/ is public;
// test/unit/public-api.test.ts pins this list. The typed HTTP client is `oncely/client`, the embedded
// PostgreSQL for development and tests `oncely/postgres`, the test kit `oncely/testing` and the reference
// domains (opt-in) `oncely/reference`. docs/library.md walks through all of it.

/**
 * Running oncely in your process, and submitting commands inside your own transaction.
 *
 * @example
 * const oncely = createOncely({ databaseUrl, domains: [stockDomain] });
 * await oncely.migrate();
 * await oncely.start({ api: true, worker: true });
 * await db.transaction(async (tx) => {
 *   await tx.insert(shopOrders).values(order);
 *   await submit(tx, [{ id: `${order.id}-reserve`, type: 'stock.reserve', entityId: order.id, payload: { sku: order.sku, quantity: order.quantity } }]);
 * });
 */
export { createOncely, submit, type Oncely, type OncelyConfig, type OncelyOptions, type OncelyRoles, type SubmitOptions } from './library/oncely.ts';
/**
 * `CommandRefusedError`: a command submit refused before writing anything (`reason`, `detail`, `errors`).
 * `OncelyUsageError`: submit outside a transaction, or with no started oncely. `Transaction`: what submit takes.
 *
 * @example
 * try { await submit(tx, commands); } catch (err) { if (err instanceof CommandRefusedError && err.reason === 'invalid_payload') return badRequest(err.errors); throw err; }
 */
export { CommandRefusedError, type CommandEnvelope } from './library/submit.ts';
export { OncelyUsageError, type Transaction } from './library/transaction.ts';
/**
 * A bad `config` given to createOncely: one message naming every bad setting.
 *
 * @example
 * try { createOncely({ databaseUrl, domains, config: { WORKER_CONCURRENCY: 0 } }); } catch (err) { err instanceof ConfigError; } // true
 */
export { ConfigError } from './config.ts';
/**
 * What a submission answers per command: `accepted`, `duplicate` or `reused`, with the stored status.
 *
 * @example
 * const [{ outcome, status }] = await submit(tx, [command]);
 */
export type { Submission } from './processor/submit.ts';

/**
 * Command types: a payload schema and either a lock plan with a pure decision, or an imperative handler.
 *
 * @example
 * const receive = defineCommand({
 *   type: 'stock.receive',
 *   summary: 'Add units to a stock item.',
 *   payload: z.strictObject({ quantity: Quantity }),
 *   plan: (command) => ({ lock: [rowKey(stockRows, command.entityId)] }),
 *   decide: (command, state) => changeEntity(state, stockItem, command, (item) => accept({ ...item, onHand: item.onHand + command.payload.quantity }), view),
 * });
 */
export {
  defineCommand,
  type AnyCommandDefinition,
  type BatchState,
  type CommandContext,
  type CommandDefinition,
  type HandlerDefinition,
  type LockPlan,
  type PlannedDefinition,
  type ReadState,
  type Sql,
} from './core/command.ts';

/**
 * Domains: command types, drizzle tables, row descriptors and HTTP reads, declared together.
 *
 * @example
 * export const stockDomain = defineDomain({
 *   name: 'stock',
 *   commands: [receive, reserve, release],
 *   tables: { stockItems, reservations },
 *   rows: [stockRows, reservationRows],
 *   reads: [entityRead({ collection: 'stock-items', name: 'stock item', schema: StockItemSchema, read: readStockItem })],
 * });
 */
export {
  checkDomains,
  defineDomain,
  entityRead,
  EntityStamps,
  EntityVersion,
  pageRead,
  pageSchema,
  Timestamp,
  type AnyRead,
  type CommandMapOfDomains,
  type Domain,
  type EntityMapOf,
  type EntityRead,
  type EntitySchema,
  type PageRead,
  type PageRequest,
  type ReadContext,
} from './core/domain.ts';

/**
 * The envelope's pieces: ids (`Identifier`), money in minor units (`Amount`), a command as a decision sees it, and its status.
 *
 * @example
 * const payload = z.strictObject({ accountId: Identifier, amount: Amount });
 */
export { Amount, Identifier, isTerminal, type Command, type CommandError, type CommandStatus, type CommandStatusName } from './core/envelope.ts';

/**
 * Outcomes (stored and replayed) and pure decisions: refusals are values, never exceptions.
 *
 * @example
 * const decideReserve = (item: StockItem, quantity: number): Decision<StockItem> =>
 *   item.onHand - item.reserved < quantity ? refuse('insufficient_stock', `only ${item.onHand - item.reserved} left`) : accept({ ...item, reserved: item.reserved + quantity });
 */
export { accept, notFound, refuse, rejected, succeeded, versionConflict, type Decision, type Outcome } from './core/outcome.ts';

/**
 * Table descriptors: how the set-based processor locks, reads and writes a table's rows, and where the
 * table sits in the one global lock order.
 *
 * @example
 * const stockRows = entityTable(stockItems, { lockOrder: 130 }); // stockItems: its drizzle pgTable
 * type StockItem = RowOf<typeof stockRows>;
 * const plan = (command: Command) => ({ lock: [rowKey(stockRows, command.entityId)] });
 */
export { lookup, rowKey, type AppendTable, type ColumnType, type Columns, type EntityTable, type Lookup, type RowKey, type RowOf, type Versioned } from './core/table.ts';
export { appendTable, entityTable } from './processor/descriptors.ts';

/**
 * Decision helpers: the command's own row checked against `expectedVersion` (`target`), check-decide-save
 * in one call (`changeEntity`), a creation with its `already_exists` and version checks (`createEntity`),
 * the version check of a creating command alone (`creationConflict`), exact integers (`int`).
 *
 * @example
 * decide: (command, state) => changeEntity(state, stockItem, command, (item) => decideReceive(item, command.payload.quantity), view)
 */
export { changeEntity, createEntity, creationConflict, int, target, type Entity } from './processor/entity.ts';
