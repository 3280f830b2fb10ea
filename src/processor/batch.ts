// The set-based batch: lock every row a batch needs in one global order, decide each command in memory in
// queue order, write with one statement per table, record every outcome in one statement.
//
// Why no two batches can deadlock: every batch takes its row locks in one global order, (1) command rows
// in (client_id, id) order, then (2) entity tables by their `lockOrder` (red_packets, orders, accounts),
// each table's rows in id order in one `ORDER BY id FOR NO KEY UPDATE` statement; a phase-two key (an
// order's account) is always in a later table than the row that named it. Writes come after every lock is
// held and touch only locked rows, except new rows, which are inserted table by table in a fixed order and
// by key within a table, so waits on another batch's uncommitted insert also follow one order. Foreign-key
// checks take FOR KEY SHARE, which FOR NO KEY UPDATE does not block. A cycle of waits would need some
// batch to wait for a lock lower in the order than one it holds, which none does.
import type { AnyCommandDefinition, PlannedDefinition, Sql } from '../core/command.ts';
import { isPlanned } from '../core/command.ts';
import { isTerminal, type Command } from '../core/envelope.ts';
import type { Outcome } from '../core/outcome.ts';
import type { Registry } from '../core/registry.ts';
import type { EntityTable, Lookup, RowKey } from '../core/table.ts';
import type { ApplyOptions, Delivery, Settlement } from './apply.ts';
import { applyDelivery, commandOf, recordFailure } from './apply.ts';
import { isConnectionLost } from './errors.ts';
import { commandsSql, type CommandRow } from '../db/commands-sql.ts';
import { outboxSql } from '../db/outbox-sql.ts';
import { State, stagedWrites } from './state.ts';
import { insertRows, lockRows, readRowsBy, updateRows } from './tables.ts';

export { NotInPlan } from './state.ts';

const BATCH_SAVEPOINT = 'oncely_batch';
const ONE_SAVEPOINT = 'oncely_one';

interface Job {
  delivery: Delivery;
  index: number;
  row: CommandRow;
  definition: PlannedDefinition;
  command: Command;
  plan: ReturnType<PlannedDefinition['plan']>;
  keys: RowKey[];
  attempt: number;
}

/**
 * Applies a batch of planned commands in the caller's transaction with a small constant number of
 * statements: lock the command rows, lock each table's rows, decide in memory, write each table, record
 * the outcomes. Throws on any database error; the caller falls back to one command at a time.
 */
async function applySetBased(
  sql: Sql,
  registry: Registry,
  deliveries: readonly Delivery[],
  /** The locked row of each delivery, at its index (undefined: no such command). */
  rows: readonly (CommandRow | undefined)[],
  options: ApplyOptions,
  /** False for a probe that will be rolled back: no settlement hooks. */
  settle = true,
): Promise<(Settlement | undefined)[]> {
  const settlements: (Settlement | undefined)[] = new Array<Settlement | undefined>(deliveries.length);
  const jobs: Job[] = [];
  // Two deliveries of one command share its locked row (the map of one lock statement holds one per key).
  const seen = new Set<CommandRow>();
  for (const [index, delivery] of deliveries.entries()) {
    const row = rows[index];
    // Two jobs for one command in one batch: the first applies it, the second finds it ended.
    if (!row || isTerminal(row.status) || seen.has(row)) {
      settlements[index] = { kind: 'complete', outcome: row ? 'already-terminal' : 'missing' };
      continue;
    }
    seen.add(row);
    const definition = registry.get(row.type);
    if (!definition || !isPlanned(definition)) throw new Error(`command type ${row.type} has no planned definition`);
    const command = commandOf(row, definition.payload.parse(row.payload));
    // The user's plan runs once per command per pass: locking and lookups both read it.
    const plan = definition.plan(command);
    jobs.push({ delivery, index, row, definition, command, plan, keys: [], attempt: Math.max(delivery.attempt, row.attempts + 1) });
  }

  const state = new State();
  await lockInOrder(sql, state, jobs);
  await readLookups(sql, state, jobs);

  const outcomes: { job: Job; outcome: Outcome }[] = [];
  for (const job of jobs) {
    state.begin();
    let outcome: Outcome;
    try {
      outcome = job.definition.decide(job.command, state);
    } catch (err) {
      state.rollback();
      throw err;
    }
    if (outcome.status === 'succeeded') state.commit(job.command);
    else state.rollback();
    outcomes.push({ job, outcome });
  }

  await writeState(sql, options.schema, state);
  if (outcomes.length > 0) {
    const recorded = await commandsSql(options.schema).recordOutcomes(
      sql,
      outcomes.map(({ job, outcome }) => ({
        clientId: job.row.client_id,
        id: job.row.id,
        status: outcome.status,
        attempts: job.attempt,
        result: outcome.status === 'succeeded' ? outcome.result : null,
        error: outcome.status === 'succeeded' ? null : outcome.error,
      })),
    );
    if (recorded !== outcomes.length) throw new Error('a locked command row changed under its lock');
  }
  for (const { job, outcome } of outcomes) {
    if (settle) await options.hooks?.beforeSettle?.(job.delivery);
    settlements[job.index] = { kind: 'complete', outcome: outcome.status };
  }
  return settlements;
}

/**
 * Locks every row the jobs' plans name: table after table in lock order, each table in one statement.
 * A job's phase-two keys are asked for once every table of its phase one is locked.
 */
async function lockInOrder(sql: Sql, state: State, jobs: Job[]): Promise<void> {
  const pending = new Map<string, { table: EntityTable; ids: Set<string> }>();
  const add = (key: RowKey) => {
    let entry = pending.get(key.table.name);
    if (!entry) {
      entry = { table: key.table, ids: new Set() };
      pending.set(key.table.name, entry);
    }
    entry.ids.add(key.id);
  };
  const waiting: { job: Job; after: number; then: NonNullable<ReturnType<PlannedDefinition['plan']>['then']> }[] = [];
  for (const job of jobs) {
    const { plan } = job;
    job.keys.push(...plan.lock);
    plan.lock.forEach(add);
    if (plan.then) waiting.push({ job, after: Math.max(...plan.lock.map((key) => key.table.lockOrder)), then: plan.then });
  }
  const locked = new Map<string, Set<string>>();
  let lastOrder = -Infinity;
  for (;;) {
    for (const entry of waiting.splice(0).filter((w) => (w.after > lastOrder ? (waiting.push(w), false) : true))) {
      for (const key of entry.then(state)) {
        const done = locked.get(key.table.name);
        if (done?.has(key.id)) {
          entry.job.keys.push(key);
          continue;
        }
        if (key.table.lockOrder <= lastOrder) throw new Error(`${entry.job.row.type}: phase-two key in ${key.table.name} breaks the lock order`);
        entry.job.keys.push(key);
        add(key);
      }
    }
    const next = [...pending.values()].filter((p) => !locked.has(p.table.name)).sort((a, b) => a.table.lockOrder - b.table.lockOrder)[0];
    if (!next) break;
    if (next.table.lockOrder <= lastOrder) throw new Error(`${next.table.name} would be locked out of order`);
    const ids = [...next.ids];
    state.load(next.table, await lockRows(sql, next.table, ids), ids, true);
    locked.set(next.table.name, next.ids);
    lastOrder = next.table.lockOrder;
  }
  if (waiting.length > 0) throw new Error('a phase-two plan never ran');
}

/** Reads the lookups of every job, one statement per (table, column), once every lock is held. */
async function readLookups(sql: Sql, state: State, jobs: readonly Job[]): Promise<void> {
  const groups = new Map<string, { lookup: Lookup; values: Set<string> }>();
  for (const job of jobs) {
    for (const lookup of job.plan.lookups ?? []) {
      const key = `${lookup.table.name}.${lookup.column}`;
      const group = groups.get(key) ?? { lookup, values: new Set<string>() };
      group.values.add(lookup.value);
      groups.set(key, group);
    }
  }
  for (const { lookup, values } of groups.values()) {
    state.load(lookup.table, await readRowsBy(sql, lookup.table, lookup.column, [...values]), [], false);
  }
}

/** One INSERT and one versioned UPDATE per entity table (parents first: reverse lock order), then the appends and the events. */
async function writeState(sql: Sql, schema: string, state: State): Promise<void> {
  const writes = stagedWrites(state);
  for (const { table, created, changed } of writes.tables) {
    await insertRows(sql, table, created);
    await updateRows(sql, table, changed);
  }
  for (const { table, rows } of writes.appends) await insertRows(sql, table, rows);
  await outboxSql(schema).insert(sql, writes.events);
}

/**
 * Applies a batch of deliveries in the caller's one transaction. Planned commands go through the set-based
 * path together; if any of its statements fails (a bug, a constraint), it is rolled back and each command
 * is applied alone under a savepoint, so the others still commit and the bad one is retried or ends dead.
 * Commands with an imperative handler are applied one at a time after them.
 *
 * @example
 * const settlements = await applyBatch(sql, registry, deliveries, { schema: 'oncely', maxFailures: 5, retryDelayMaxSeconds: 60 });
 */
export async function applyBatch(sql: Sql, registry: Registry, deliveries: readonly Delivery[], options: ApplyOptions): Promise<Settlement[]> {
  const settlements: Settlement[] = new Array<Settlement>(deliveries.length);
  await sql.query(`SAVEPOINT ${BATCH_SAVEPOINT}`);
  const { locked, rows } = await lockCommands(sql, options.schema, deliveries);
  options.tracer?.locked(locked);
  const planned: { delivery: Delivery; index: number }[] = [];
  const imperative: { delivery: Delivery; index: number }[] = [];
  for (const [index, delivery] of deliveries.entries()) {
    const row = rows[index];
    // A redelivery of an ended command (or a job whose command is gone) is settled with nothing to do.
    if (!row || isTerminal(row.status)) {
      settlements[index] = { kind: 'complete', outcome: row ? 'already-terminal' : 'missing' };
      continue;
    }
    const definition: AnyCommandDefinition | undefined = registry.get(row.type);
    // Unknown types take the one-at-a-time path too, which records their failure.
    (definition && isPlanned(definition) ? planned : imperative).push({ delivery, index });
  }

  if (planned.length > 0) {
    try {
      await applyPlanned(sql, registry, planned, rows, settlements, options);
    } catch (err) {
      if (isConnectionLost(err)) throw err;
      await sql.query(`ROLLBACK TO SAVEPOINT ${BATCH_SAVEPOINT}`);
      const [only] = planned;
      if (planned.length === 1 && only) settlements[only.index] = await recordFailure(sql, only.delivery, err, options);
      else await fallBack(sql, registry, planned, settlements, options);
    }
  }
  if (imperative.length > 0 && options.lockTimeoutMs !== undefined) {
    await sql.query(`SELECT set_config('lock_timeout', $1, true)`, [`${options.lockTimeoutMs}ms`]);
  }
  const started = Date.now();
  for (const [n, { delivery, index }] of imperative.entries()) {
    // Handlers run one after another, so a slow one could push the batch past its job's expiry: after the
    // budget the rest go back to the queue untouched, each with a job of its own (the first always runs).
    if (n > 0 && options.batchBudgetMs !== undefined && Date.now() - started > options.batchBudgetMs) {
      settlements[index] = { kind: 'retry', error: { code: 'deferred', message: 'the batch ran out of time before this command' }, delaySeconds: 0 };
      continue;
    }
    settlements[index] = await applyDelivery(sql, registry, delivery, options);
  }
  // From the rows locked above (type and submission time never change), for the worker's metrics.
  for (const [index, row] of rows.entries()) {
    if (row) settlements[index] = { ...settlements[index]!, command: { type: row.type, submittedAt: row.submitted_at } };
  }
  return settlements;
}

/** One set pass over `planned`, each settlement written at its delivery's index (`rows`: the locked row of each index of the batch). */
async function applyPlanned(
  sql: Sql,
  registry: Registry,
  planned: readonly { delivery: Delivery; index: number }[],
  rows: readonly (CommandRow | undefined)[],
  settlements: Settlement[],
  options: ApplyOptions,
): Promise<void> {
  const results = await applySetBased(
    sql,
    registry,
    planned.map((p) => p.delivery),
    planned.map((p) => rows[p.index]),
    options,
  );
  for (const [i, p] of planned.entries()) settlements[p.index] = results[i]!;
}

/**
 * Locks every command row of the batch in one statement, in (client_id, id) order: the first locks of the global
 * order. Returns the rows as locked and, at each delivery's index, its row (undefined: no such command); two
 * deliveries of one command get the same row object.
 */
async function lockCommands(sql: Sql, schema: string, deliveries: readonly Delivery[]): Promise<{ locked: CommandRow[]; rows: (CommandRow | undefined)[] }> {
  const locked = await commandsSql(schema).lockMany(
    sql,
    deliveries.map((d) => d.clientId),
    deliveries.map((d) => d.id),
  );
  // By client, then id: two lookups of strings already hashed. A joined key string per row and per lookup (built,
  // flattened and hashed each time) was about 5 % of a 1,000-command batch's JavaScript.
  const byClient = new Map<string, Map<string, CommandRow>>();
  for (const row of locked) {
    let ofClient = byClient.get(row.client_id);
    if (!ofClient) byClient.set(row.client_id, (ofClient = new Map<string, CommandRow>()));
    ofClient.set(row.id, row);
  }
  return { locked, rows: deliveries.map((delivery) => byClient.get(delivery.clientId)?.get(delivery.id)) };
}

/**
 * After a failed set pass: find the commands that fail alone, then apply the others as one set pass again,
 * so the locks are still taken in the global order, and record the failures. Each probe runs under a
 * savepoint that is rolled back, which releases its locks, so probing holds nothing across commands.
 * Should the second pass fail too (a failure only some combination shows), each command is applied alone.
 */
async function fallBack(
  sql: Sql,
  registry: Registry,
  planned: readonly { delivery: Delivery; index: number }[],
  settlements: Settlement[],
  options: ApplyOptions,
): Promise<void> {
  const failed = new Map<number, unknown>();
  for (const p of planned) {
    await sql.query(`SAVEPOINT ${ONE_SAVEPOINT}`);
    try {
      await applySetBased(sql, registry, [p.delivery], (await lockCommands(sql, options.schema, [p.delivery])).rows, options, false);
    } catch (err) {
      if (isConnectionLost(err)) throw err;
      failed.set(p.index, err);
    }
    await sql.query(`ROLLBACK TO SAVEPOINT ${ONE_SAVEPOINT}`);
  }
  const good = planned.filter((p) => !failed.has(p.index));
  await sql.query(`SAVEPOINT ${BATCH_SAVEPOINT}`);
  try {
    const { rows } = await lockCommands(
      sql,
      options.schema,
      planned.map((p) => p.delivery),
    );
    // Indexed like the batch: `good` names its deliveries by their index in it.
    const relocked: (CommandRow | undefined)[] = [];
    for (const [i, p] of planned.entries()) relocked[p.index] = rows[i];
    await applyPlanned(sql, registry, good, relocked, settlements, options);
    for (const p of planned) if (failed.has(p.index)) settlements[p.index] = await recordFailure(sql, p.delivery, failed.get(p.index), options);
  } catch (err) {
    if (isConnectionLost(err)) throw err;
    await sql.query(`ROLLBACK TO SAVEPOINT ${BATCH_SAVEPOINT}`);
    for (const p of planned) settlements[p.index] = await applyAlone(sql, registry, p.delivery, options);
  }
}

/** One planned command under its own savepoint; a failure is recorded on its row and settled as retry/dead. */
async function applyAlone(sql: Sql, registry: Registry, delivery: Delivery, options: ApplyOptions): Promise<Settlement> {
  await sql.query(`SAVEPOINT ${ONE_SAVEPOINT}`);
  try {
    const [settlement] = await applySetBased(sql, registry, [delivery], (await lockCommands(sql, options.schema, [delivery])).rows, options);
    await sql.query(`RELEASE SAVEPOINT ${ONE_SAVEPOINT}`);
    return settlement!;
  } catch (err) {
    if (isConnectionLost(err)) throw err;
    await sql.query(`ROLLBACK TO SAVEPOINT ${ONE_SAVEPOINT}`);
    return recordFailure(sql, delivery, err, options);
  }
}
