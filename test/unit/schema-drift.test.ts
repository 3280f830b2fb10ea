// The committed migrations and the drizzle schema describe the same database: a schema change without a
// migration (or an edited migration snapshot) fails here. The schema is oncely's own tables plus every
// reference domain's, as the domains declare them (drizzle.config.ts globs the same files).
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateDrizzleJson, generateMigration } from 'drizzle-kit/api';
import { describe, expect, it } from 'vitest';
import * as own from '../../src/db/schema.ts';
import { referenceDomains } from '../../src/domains/index.ts';

const schema = Object.assign({}, own, ...referenceDomains.map((domain) => domain.tables)) as Record<string, unknown>;

const META = fileURLToPath(new URL('../../migrations/meta', import.meta.url));

describe('schema drift', () => {
  it('finds nothing left to migrate between the latest snapshot and the tables of src/db/schema.ts and the domains', async () => {
    const latest = readdirSync(META)
      .filter((f) => f.endsWith('_snapshot.json'))
      .sort()
      .at(-1);
    expect(latest).toBeDefined();
    // drizzle-kit types its snapshots with zod 3's types, which do not resolve under this project's zod 4: the test
    // names the one field it reads and hands the snapshots through as they are.
    const snapshot = JSON.parse(readFileSync(`${META}/${latest}`, 'utf8')) as { id: string };
    const current: unknown = generateDrizzleJson(schema, snapshot.id);
    expect(await generateMigration(snapshot, current)).toEqual([]);
  });
});
