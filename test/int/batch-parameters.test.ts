// The set-based statements' parameters are exact: the array literals and JSON texts the worker builds itself
// (instead of pg's element-by-element escaping) reach PostgreSQL as the very values pg's own conversion
// sends, money stays an exact integer, a jsonb value stays the same JSON, and the command rows a batch locks
// carry the same timestamps as a plain read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandsSql, COMMAND_COLUMNS } from '../../src/db/commands-sql.ts';
import { arrayLiteral, jsonArrayLiteral, jsonOrNull } from '../../src/db/json.ts';
import { outboxSql } from '../../src/db/outbox-sql.ts';
import { sqlOf } from '../../src/db/pool.ts';
import { accountRows, ledgerRows } from '../../src/domains/accounts/rows.ts';
import { insertRows, lockRows, updateRows } from '../../src/processor/tables.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const awkward = ['', 'NULL', 'null', 'a"b', 'a\\b', '\\', '"', 'a,b', '{x}', '  padded  ', 'tab\there', 'line\nbreak', '€ 😀', 'lone \ud800 surrogate', "it's"];

describe('set-based parameters', () => {
  it('sends text and integer arrays as pg would, whatever the characters', async () => {
    for (const values of [awkward, ['plain', 'ids', 'only'], [] as string[], [1, -5, 0, 9007199254740991, null]] as const) {
      const literal = arrayLiteral<unknown>(values);
      const type = typeof values.find((value) => value !== null) === 'number' ? 'bigint[]' : 'text[]';
      const { rows } = await db.pool.query<{ same: boolean; mine: unknown[] }>(`SELECT $1::${type} IS NOT DISTINCT FROM $2::${type} AS same, $1::${type} AS mine`, [
        literal,
        values,
      ]);
      expect(rows[0]!.same).toBe(true);
      expect(rows[0]!.mine.length).toBe(values.length);
    }
    // Nothing JSON would write differently from an array literal is sent as a literal.
    expect(arrayLiteral(['a\\b'])).toEqual(['a\\b']);
    expect(arrayLiteral([Number.NaN])).toEqual([Number.NaN]);
    expect(arrayLiteral([true])).toEqual([true]);
    expect(arrayLiteral(['a', 'b'])).toBe('{"a","b"}');
  });

  it('sends jsonb arrays as the JSON texts pg would send', async () => {
    // (jsonb refuses a lone surrogate's escape, sent either way.)
    const json = awkward.filter((value) => !value.includes('\ud800'));
    const text = json.join('|');
    const values = [{ text, nested: { 'k"ey': [1, 2.5, null] } }, null, undefined, 'just a string', 7, [json], { balance: 9007199254740991 }];
    const { rows } = await db.pool.query<{ same: boolean }>(`SELECT $1::jsonb[] IS NOT DISTINCT FROM $2::jsonb[] AS same`, [
      jsonArrayLiteral(values.map(jsonOrNull)),
      values.map(jsonOrNull),
    ]);
    expect(rows[0]!.same).toBe(true);
  });

  it('inserts and updates entity and ledger rows with exact money', async () => {
    const sql = sqlOf(db.pool);
    const max = Number.MAX_SAFE_INTEGER;
    await insertRows(sql, accountRows, [
      { id: 'bp-a"1', currency: 'CNY', balance: max, version: 1 },
      { id: 'bp-a\\2', currency: 'EUR', balance: 0, version: 1 },
    ]);
    const [first, second] = await lockRows(sql, accountRows, ['bp-a"1', 'bp-a\\2']);
    expect(first).toEqual({ id: 'bp-a"1', currency: 'CNY', balance: max, version: 1 });
    expect(second).toEqual({ id: 'bp-a\\2', currency: 'EUR', balance: 0, version: 1 });
    await updateRows(sql, accountRows, [
      { row: { ...first!, balance: max - 1, version: 2 }, expectedVersion: 1 },
      { row: { ...second!, balance: 12345, version: 2 }, expectedVersion: 1 },
    ]);
    expect(await lockRows(sql, accountRows, ['bp-a"1', 'bp-a\\2'])).toEqual([
      { id: 'bp-a"1', currency: 'CNY', balance: max - 1, version: 2 },
      { id: 'bp-a\\2', currency: 'EUR', balance: 12345, version: 2 },
    ]);
    // The versioned UPDATE still checks every row.
    await expect(updateRows(sql, accountRows, [{ row: { ...second!, balance: 1, version: 2 }, expectedVersion: 1 }])).rejects.toThrow(/moved under their lock/);

    const entries = [
      { accountId: 'bp-a"1', clientId: 'c', commandId: 'x-2', amount: -(max - 1), balanceAfter: 0 },
      { accountId: 'bp-a\\2', clientId: 'c', commandId: 'x-1', amount: max, balanceAfter: max },
    ];
    await insertRows(sql, ledgerRows, entries);
    const { rows } = await db.pool.query<{ account_id: string; command_id: string; amount: string; balance_after: string }>(
      `SELECT account_id, command_id, amount::text, balance_after::text FROM ledger_entries WHERE client_id = 'c' ORDER BY seq`,
    );
    // In the order given (seq), exact to the last digit.
    expect(rows).toEqual([
      { account_id: 'bp-a"1', command_id: 'x-2', amount: String(-(max - 1)), balance_after: '0' },
      { account_id: 'bp-a\\2', command_id: 'x-1', amount: String(max), balance_after: String(max) },
    ]);
  });

  it('stores event payloads as the same JSON, in the order given, a null payload as JSON null', async () => {
    const sql = sqlOf(db.pool);
    const payloads = [
      { amount: 5, note: awkward.filter((value) => !value.includes('\ud800')).join('|') },
      null as unknown as Record<string, unknown>,
      { nested: { list: [1, 'two', { three: 3 }] } },
    ];
    await outboxSql('oncely').insert(
      sql,
      payloads.map((payload, position) => ({ id: `evt_bp_${position}`, clientId: 'c', commandId: 'bp', position, type: 't.happened', entityId: 'e-1', payload })),
    );
    const { rows } = await db.pool.query<{ id: string; payload: unknown; is_json_null: boolean }>(
      `SELECT id, payload, payload = 'null'::jsonb AS is_json_null FROM oncely.outbox_events WHERE command_id = 'bp' ORDER BY sequence`,
    );
    expect(rows.map((row) => row.id)).toEqual(['evt_bp_0', 'evt_bp_1', 'evt_bp_2']);
    expect(rows.map((row) => row.payload)).toEqual(payloads);
    expect(rows[1]!.is_json_null).toBe(true);
  });

  it('locks command rows with the timestamps a plain read gives', async () => {
    await db.pool.query(
      `INSERT INTO oncely.commands (client_id, id, type, entity_id, payload, fingerprint, status, submitted_at, completed_at)
       VALUES ('c', 'bp-1', 'account.credit', 'a', '{"amount":1}', 'f', 'queued', '2026-01-02 03:04:05.678+00', NULL),
              ('c', 'bp-2', 'account.credit', 'a', '{"amount":1}', 'f', 'retrying', '1999-12-31 23:59:59.999+00', '2031-06-07 08:09:10.011+00')`,
    );
    const locked = await commandsSql('oncely').lockMany(sqlOf(db.pool), ['c', 'c'], ['bp-1', 'bp-2']);
    const { rows: read } = await db.pool.query(`SELECT ${COMMAND_COLUMNS} FROM oncely.commands WHERE client_id = 'c' AND id IN ('bp-1', 'bp-2') ORDER BY id`);
    expect(locked).toEqual(read);
    expect(locked[0]!.submitted_at).toEqual(new Date('2026-01-02T03:04:05.678Z'));
  });
});
