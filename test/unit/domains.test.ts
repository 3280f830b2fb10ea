// The domains an oncely serves are checked together, per instance: no module-global state, one error
// naming both sides of every clash, and no oncely without a domain.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { checkDomains, defineDomain, requireDomains } from '../../src/core/domain.ts';
import { referenceDomains } from '../../src/domains/index.ts';
import { createOncely } from '../../src/library/oncely.ts';
import { entityTable } from '../../src/processor/descriptors.ts';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { defineCommand } from '../../src/core/command.ts';
import { succeeded } from '../../src/core/outcome.ts';

const counters = pgTable('counters', { id: text('id').primaryKey(), total: integer('total').notNull(), version: integer('version').notNull() });
const tallies = pgTable('tallies', { id: text('id').primaryKey(), total: integer('total').notNull(), version: integer('version').notNull() });

const noop = (type: string) => defineCommand({ type, summary: 'Does nothing.', payload: z.strictObject({}), plan: () => ({ lock: [] }), decide: () => succeeded(null) });

describe('domains served together', () => {
  it('lets two descriptors share a lock order until they are served together, then names both domains and tables', () => {
    // Declaring is free: the same number in two domains is no error until one oncely serves both.
    const countersDomain = defineDomain({
      name: 'counters',
      commands: [noop('counter.bump')],
      tables: { counters },
      rows: [entityTable(counters, { lockOrder: 30 })],
      reads: [],
    });
    const talliesDomain = defineDomain({
      name: 'tallies',
      commands: [noop('tally.bump')],
      tables: { tallies },
      rows: [entityTable(tallies, { lockOrder: 500 })],
      reads: [],
    });
    expect(() => checkDomains([countersDomain, talliesDomain])).not.toThrow();
    // accounts holds 30 among the reference domains.
    expect(() => checkDomains([...referenceDomains, countersDomain])).toThrow(
      'domains clash: lockOrder 30 is claimed by both table accounts of domain accounts and table counters of domain counters: give each entity table its own lockOrder',
    );
    expect(() => createOncely({ databaseUrl: 'postgres://u@h/db', domains: [...referenceDomains, countersDomain] })).toThrow(
      /lockOrder 30 is claimed by both table accounts of domain accounts and table counters of domain counters/,
    );
  });

  it('catches two tables of one domain at the same place', () => {
    expect(() =>
      defineDomain({
        name: 'twins',
        commands: [],
        tables: { counters, tallies },
        rows: [entityTable(counters, { lockOrder: 7 }), entityTable(tallies, { lockOrder: 7 })],
        reads: [],
      }),
    ).toThrow('domains clash: lockOrder 7 is claimed by both table counters of domain twins and table tallies of domain twins: give each entity table its own lockOrder');
  });

  it('serves no domain unless given one', () => {
    expect(() => requireDomains([], 'startSystem')).toThrow(/startSystem needs the domains to serve.*referenceDomains, exported by oncely\/reference/);
    expect(() => createOncely({ databaseUrl: 'postgres://u@h/db', domains: [] })).toThrow(/createOncely needs the domains to serve/);
    expect(() => createOncely({ databaseUrl: 'postgres://u@h/db' } as never)).toThrow(/createOncely needs the domains to serve/);
    expect(requireDomains(referenceDomains, 'createOncely')).toBe(referenceDomains);
  });
});
