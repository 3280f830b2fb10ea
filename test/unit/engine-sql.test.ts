// oncely's statements name its tables only as "<schema>"."commands" / "<schema>"."outbox_events", built in one
// place from a checked schema name; the prepared-statement names (derived from the text) differ between two
// schemas in one process; a bad schema name is one clear error wherever it comes from.
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { commandStatements } from '../../src/db/commands-sql.ts';
import { checkSchemaName, lockKey, qualified } from '../../src/db/engine-schema.ts';
import { outboxStatements } from '../../src/db/outbox-sql.ts';

const all = (schema: string) => [...Object.values(commandStatements(schema)), ...Object.values(outboxStatements(schema))];

describe("oncely's statements", () => {
  it('name every engine table schema-qualified, and only in the schema asked for', () => {
    for (const text of all('shop_engine')) {
      const named = [...text.matchAll(/\b(?:FROM|INTO|UPDATE|JOIN)\s+("[^"]+"\."[^"]+"|[a-z_.]+)/gi)].map((match) => match[1]!);
      // Every table named is oncely's, qualified by the schema asked for; the rest are the statements' own CTEs and functions.
      for (const table of named.filter((name) => name.includes('"') || /^(oncely\.)?(commands|outbox_events)$/.test(name))) {
        expect(table, text).toMatch(/^"shop_engine"\."(commands|outbox_events)"$/);
      }
      expect(
        named.some((name) => name.startsWith('"shop_engine"')),
        text,
      ).toBe(true);
      expect(text).not.toContain('"oncely"');
    }
  });

  it('differ in text (so in prepared-statement name) between two schemas', () => {
    const one = all('oncely');
    const two = all('billing_oncely');
    expect(one).toHaveLength(two.length);
    for (const [i, text] of one.entries()) expect(text).not.toBe(two[i]);
  });

  it('refuse a schema name that is not a plain identifier, or is public or pgboss', () => {
    expect(qualified('oncely', 'commands')).toBe('"oncely"."commands"');
    for (const name of ['public', 'pgboss', 'pg_catalog', 'Oncely', 'a-b', '1a', '', 'a'.repeat(64), 'x"y']) {
      expect(() => checkSchemaName(name), name).toThrow(/oncely schema must/);
      expect(() => commandStatements(name), name).toThrow(/oncely schema must/);
    }
    expect(parseConfig({}).ONCELY_SCHEMA).toBe('oncely');
    expect(parseConfig({ ONCELY_SCHEMA: 'billing_oncely' }).ONCELY_SCHEMA).toBe('billing_oncely');
    expect(() => parseConfig({ ONCELY_SCHEMA: 'public' })).toThrow(ConfigError);
    expect(() => parseConfig({ ONCELY_SCHEMA: 'Bad-Name' })).toThrow(/ONCELY_SCHEMA must be a plain identifier/);
  });
});

describe('advisory-lock keys', () => {
  it('are the same as before for the default schema, and differ (within bigint) for another', () => {
    expect(lockKey(42n, 'oncely')).toBe(42n);
    const other = lockKey(0x6f6e63656c7901n, 'shop_engine');
    expect(other).not.toBe(0x6f6e63656c7901n);
    expect(other).not.toBe(lockKey(0x6f6e63656c7901n, 'billing_engine'));
    expect(BigInt.asIntN(64, other)).toBe(other);
  });
});
