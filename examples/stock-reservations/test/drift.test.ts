// The migrations in migrations/ and the drizzle tables in src/tables.ts describe the same database: a
// change to a table without `npm run db:generate` (or an edited snapshot) fails here.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { stockDomain } from '../src/domain.ts';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

describe('schema drift', () => {
  it('finds nothing left to migrate between the latest snapshot and the domain tables', async () => {
    const latest = readdirSync(`${MIGRATIONS}/meta`)
      .filter((file) => file.endsWith('_snapshot.json'))
      .sort()
      .at(-1);
    assert.ok(latest, 'a drizzle-kit snapshot in migrations/meta');
    // drizzle-kit types its snapshots with zod 3's types: only the one field read here is named.
    const snapshot = JSON.parse(readFileSync(`${MIGRATIONS}/meta/${latest}`, 'utf8')) as { id: string };
    const current: unknown = generateDrizzleJson({ ...stockDomain.tables }, snapshot.id);
    assert.deepEqual(await generateMigration(snapshot as never, current as never), []);
  });

  it('has one SQL file per journal entry, and the domain names this folder', () => {
    const journal = JSON.parse(readFileSync(`${MIGRATIONS}/meta/_journal.json`, 'utf8')) as { entries: { tag: string }[] };
    const files = readdirSync(MIGRATIONS).filter((file) => file.endsWith('.sql'));
    assert.deepEqual(files.sort(), journal.entries.map((entry) => `${entry.tag}.sql`).sort());
    assert.equal(fileURLToPath(stockDomain.migrations as URL), MIGRATIONS);
  });
});
