// The rows of one batch as its decisions see them, and the writes they stage: the in-memory half of the
// set-based batch (src/processor/batch.ts), shared with the test kit (src/testing), so a decision tested
// without a database reads and writes exactly as it does in a batch.
import type { BatchState } from '../core/command.ts';
import type { Command } from '../core/envelope.ts';
import { copyPayload, storedEvents, type EventDraft, type StoredEvent } from '../core/event.ts';
import type { AppendTable, EntityTable, Versioned } from '../core/table.ts';

/** A decision read or wrote a row no plan of its batch named: a plan bug, or a row created in the same batch. */
export class NotInPlan extends Error {
  override name = 'NotInPlan';
}

interface Loaded {
  /** The row as the database had it when locked (null: absent when locked, or created in this batch). */
  original: Versioned | null;
  current: Versioned | null;
  locked: boolean;
}

/** Rows of one batch, and the writes the commands before the current one left staged. */
export class State implements BatchState {
  readonly tables = new Map<string, { table: EntityTable; rows: Map<string, Loaded> }>();
  readonly appends = new Map<string, { table: AppendTable; rows: unknown[] }>();
  /** Events of the commands that succeeded so far, in decision order. */
  readonly events: StoredEvent[] = [];
  /** The current command's staged writes: undone if it is refused. */
  private undo: (() => void)[] = [];
  /** The current command's events: kept only if it succeeds. */
  private drafts: EventDraft[] = [];

  rowsOf(table: EntityTable) {
    let entry = this.tables.get(table.name);
    if (!entry) {
      entry = { table, rows: new Map() };
      this.tables.set(table.name, entry);
    }
    return entry.rows;
  }

  load(table: EntityTable, rows: readonly Versioned[], ids: readonly string[], locked: boolean) {
    const map = this.rowsOf(table);
    for (const row of rows) if (!map.has(row.id) || locked) map.set(row.id, { original: row, current: row, locked });
    if (locked) for (const id of ids) if (!map.has(id)) map.set(id, { original: null, current: null, locked: true });
  }

  begin() {
    this.undo = [];
    this.drafts = [];
  }

  rollback() {
    for (const step of this.undo.reverse()) step();
    this.undo = [];
    this.drafts = [];
  }

  /** Keeps the current command's events, once it succeeded. */
  commit(command: Command) {
    this.events.push(...storedEvents(command, this.drafts));
    this.drafts = [];
  }

  emit(event: EventDraft): void {
    // A copy: a decision that reuses its object after emitting cannot change what is stored.
    this.drafts.push({ type: event.type, entityId: event.entityId, payload: copyPayload(event.payload) });
  }

  get<R extends Versioned>(table: EntityTable<R>, id: string): R | undefined {
    const entry = this.tables.get(table.name)?.rows.get(id);
    // A row no plan of the batch named was never looked at: "absent" would be a guess, so say so.
    if (!entry) throw new NotInPlan(`${table.name} ${id} is in no lock plan of this batch`);
    return (entry.current ?? undefined) as R | undefined;
  }

  find<R extends Versioned>(table: EntityTable<R>, where: (row: R) => boolean): R[] {
    const rows = this.tables.get(table.name)?.rows.values() ?? [];
    return [...rows].map((loaded) => loaded.current as R | null).filter((row): row is R => row !== null && where(row));
  }

  /**
   * A row the batch holds locked. Any command of the batch may write it: the batch's whole lock set was
   * taken in the global order, whichever plan named the row (so `order.create` and `order.pay` of one
   * order share a batch: the account the create locked is the one the pay debits).
   */
  private lockedEntry(table: EntityTable, id: string): Loaded {
    const entry = this.tables.get(table.name)?.rows.get(id);
    if (!entry?.locked) throw new NotInPlan(`${table.name} ${id} is not locked by any lock plan of this batch`);
    return entry;
  }

  insert<R extends Versioned>(table: EntityTable<R>, row: Omit<R, 'version'>): R {
    const entry = this.lockedEntry(table, row.id);
    if (entry.current) throw new Error(`${table.name} ${row.id} already exists`);
    const created = { ...row, version: 1 } as R;
    entry.current = created;
    this.undo.push(() => (entry.current = null));
    return created;
  }

  update<R extends Versioned>(table: EntityTable<R>, row: R): R {
    const entry = this.lockedEntry(table, row.id);
    const before = entry.current;
    if (!before || before.version !== row.version) throw new Error(`${table.name} ${row.id} is not at version ${row.version}`);
    const next = { ...row, version: row.version + 1 };
    entry.current = next;
    this.undo.push(() => (entry.current = before));
    return next;
  }

  append<R>(table: AppendTable<R>, row: R): void {
    let entry = this.appends.get(table.name);
    if (!entry) {
      entry = { table: table as unknown as AppendTable, rows: [] };
      this.appends.set(table.name, entry);
    }
    const rows = entry.rows;
    rows.push(row);
    this.undo.push(() => void rows.pop());
  }
}

/** What a batch's decisions left to write: per entity table its new rows (in key order) and its changed rows, the appends, the events. */
export interface StagedWrites {
  /** Entity tables parents first (descending lock order), each with new rows in key order and changed rows with the version they were read at. */
  tables: { table: EntityTable; created: Versioned[]; changed: { row: Versioned; expectedVersion: number }[] }[];
  appends: { table: AppendTable; rows: unknown[] }[];
  events: StoredEvent[];
}

/**
 * The writes staged in a batch's state, in the order the batch writes them.
 *
 * @example
 * for (const { table, created, changed } of stagedWrites(state).tables) { ... }
 */
export function stagedWrites(state: State): StagedWrites {
  const tables = [...state.tables.values()].sort((a, b) => b.table.lockOrder - a.table.lockOrder);
  return {
    tables: tables.map(({ table, rows }) => {
      const created: Versioned[] = [];
      const changed: { row: Versioned; expectedVersion: number }[] = [];
      for (const loaded of rows.values()) {
        if (!loaded.current) continue;
        if (!loaded.original) created.push(loaded.current);
        else if (loaded.current.version !== loaded.original.version) changed.push({ row: loaded.current, expectedVersion: loaded.original.version });
      }
      created.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return { table, created, changed };
    }),
    appends: [...state.appends.values()],
    events: state.events,
  };
}
