// The committed engine migrations (migrations/engine/) and the drizzle tables of src/db/schema.ts describe the
// same database: a change to oncely's tables without a migration (or an edited migration snapshot) fails here.
// The statuses in SQL come from the one list in src/core/envelope.ts: checked against every statement here.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { describe, expect, it } from 'vitest';
import { COMMAND_STATUSES } from '../../src/core/envelope.ts';
import { commandStatements } from '../../src/db/commands-sql.ts';
import * as engine from '../../src/db/schema.ts';
import { referenceDomains } from '../../src/domains/index.ts';

const META = fileURLToPath(new URL('../../migrations/engine/meta', import.meta.url));

/** The statements drizzle-kit would still generate between a folder's latest snapshot and `tables`. */
async function leftToMigrate(meta: string, tables: Record<string, unknown>): Promise<string[]> {
  const latest = readdirSync(meta)
    .filter((f) => f.endsWith('_snapshot.json'))
    .sort()
    .at(-1);
  expect(latest).toBeDefined();
  // drizzle-kit types its snapshots with zod 3's types, which do not resolve under this project's zod 4: the test
  // names the one field it reads and hands the snapshots through as they are.
  const snapshot = JSON.parse(readFileSync(`${meta}/${latest}`, 'utf8')) as { id: string };
  const current: unknown = generateDrizzleJson(tables, snapshot.id);
  return generateMigration(snapshot, current);
}

describe('schema drift', () => {
  it('finds nothing left to migrate between the latest engine snapshot and the tables of src/db/schema.ts', async () => {
    expect(await leftToMigrate(META, engine)).toEqual([]);
  });

  it("finds nothing left to migrate between each reference domain's migrations and its drizzle tables", async () => {
    for (const domain of referenceDomains) {
      expect(String(domain.migrations)).toBe(new URL(`../../migrations/reference/${domain.name}`, import.meta.url).href);
      expect(await leftToMigrate(fileURLToPath(new URL(`../../migrations/reference/${domain.name}/meta`, import.meta.url)), domain.tables), domain.name).toEqual([]);
    }
  });

  it('names only known statuses in the statements over commands, and the check constraint names them all', () => {
    const known = new Set<string>(COMMAND_STATUSES);
    for (const [name, text] of Object.entries(commandStatements('oncely'))) {
      for (const list of text.matchAll(/status\s+(?:NOT\s+)?IN\s*\(([^)]*)\)/gi)) {
        const values = [...list[1]!.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
        for (const value of values) expect(known.has(value), `${name}: ${value}`).toBe(true);
      }
      // A status written alone: `status = 'dead'`, `THEN 'dead' ELSE 'retrying'`, the insert's 'queued'.
      for (const single of text.matchAll(/status\s*(?:=|<>)\s*'([a-z_]+)'|THEN '([a-z_]+)' ELSE '([a-z_]+)'|, '(queued)', trace_parent/g)) {
        for (const value of single.slice(1).filter((v): v is string => v !== undefined)) expect(known.has(value), `${name}: ${value}`).toBe(true);
      }
    }
    const baseline = readdirSync(fileURLToPath(new URL('../../migrations/engine', import.meta.url))).filter((f) => f.endsWith('.sql'));
    const sql = baseline.map((f) => readFileSync(fileURLToPath(new URL(`../../migrations/engine/${f}`, import.meta.url)), 'utf8')).join('\n');
    const check = /commands_status_check" CHECK \([^)]*in \(([^)]*)\)\)/.exec(sql);
    expect(check?.[1]).toBe(COMMAND_STATUSES.map((s) => `'${s}'`).join(', '));
  });
});
