// Keeps the path to a distributed PostgreSQL (Citus, docs/scaling.md) open: a distributed table's every
// primary key and unique constraint must contain its distribution column. `commands` is distributed by
// `client_id` (the dedupe key (client_id, id) stays on one shard), `outbox_events` by `entity_id` (one
// entity's events in order on the shard of the entity). A key that could not contain its table's column
// fails here, before it closes the path.
import { readdir, readFile } from 'node:fs/promises';
import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { commands, outboxEvents } from '../../src/db/schema.ts';

/** The chosen distribution column of each engine table (docs/scaling.md, "Distribution columns"). */
const DISTRIBUTION = { commands: 'client_id', outbox_events: 'entity_id' } as const;

/**
 * Keys that do not contain the column today but are unique by construction, whatever else they are
 * combined with, so a distributed schema extends them with the column without losing anything: the outbox's
 * `sequence` (a bigserial) and its `id` (sha256 of client id, command id and position). Each is a migration
 * to make before distributing (docs/scaling.md); nothing else may join this list without a reason there.
 */
const EXTENDABLE: Record<string, readonly string[]> = { outbox_events: ['sequence', 'id'] };

function uniqueKeys(table: PgTable): { name: string; columns: string[] }[] {
  const config = getTableConfig(table);
  const keys: { name: string; columns: string[] }[] = [];
  for (const column of config.columns) {
    if (column.primary) keys.push({ name: `${column.name} (primary key)`, columns: [column.name] });
    if (column.isUnique) keys.push({ name: `${column.name} (unique)`, columns: [column.name] });
  }
  for (const pk of config.primaryKeys) keys.push({ name: pk.getName(), columns: pk.columns.map((c) => c.name) });
  for (const unique of config.uniqueConstraints) keys.push({ name: unique.getName() ?? 'unique', columns: unique.columns.map((c) => c.name) });
  for (const index of config.indexes) {
    if (index.config.unique) keys.push({ name: index.config.name ?? 'unique index', columns: index.config.columns.map((c) => ('name' in c ? String(c.name) : '?')) });
  }
  return keys;
}

describe('distribution keys of the engine tables', () => {
  for (const [tableName, table] of [
    ['commands', commands],
    ['outbox_events', outboxEvents],
  ] as const) {
    it(`every unique key of ${tableName} contains ${DISTRIBUTION[tableName]}, or is unique by construction`, () => {
      const keys = uniqueKeys(table);
      expect(keys.length).toBeGreaterThan(0);
      const column = DISTRIBUTION[tableName];
      const closing = keys.filter((key) => !key.columns.includes(column) && !(key.columns.length === 1 && EXTENDABLE[tableName]?.includes(key.columns[0]!)));
      expect(closing, `unique keys of ${tableName} that could not be distributed by ${column}`).toEqual([]);
    });
  }

  it('the dedupe key of commands is exactly (client_id, id): the distribution column leads it', () => {
    const pk = getTableConfig(commands).primaryKeys[0];
    expect(pk?.columns.map((c) => c.name)).toEqual(['client_id', 'id']);
  });

  it('no engine migration adds a unique key the drizzle schema does not declare', async () => {
    const dir = new URL('../../migrations/engine/', import.meta.url);
    const files = (await readdir(dir)).filter((name) => name.endsWith('.sql'));
    expect(files.length).toBeGreaterThan(0);
    const declared = new Set([...uniqueKeys(commands), ...uniqueKeys(outboxEvents)].map((key) => key.columns.join(',')));
    let seen = 0;
    for (const file of files) {
      const text = await readFile(new URL(file, dir), 'utf8');
      for (const match of text.matchAll(/(?:PRIMARY KEY|UNIQUE)\s*(?:INDEX\s+\S+\s+ON\s+\S+\s*(?:USING\s+\w+\s*)?)?\(([^)]*)\)/gi)) {
        const columns = match[1]!.split(',').map((c) => c.trim().replace(/"/g, '').split(/\s+/)[0]);
        expect(declared.has(columns.join(',')), `${file}: ${match[0]}`).toBe(true);
        seen++;
      }
    }
    // The commands key and the outbox's unique id are found by the pattern (the sequence's is inline).
    expect(seen).toBeGreaterThanOrEqual(2);
  });
});
