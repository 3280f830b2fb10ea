import { runMigrations } from '../db/migrate.ts';
import { databaseUrl, fail, loadConfig } from './run.ts';

const config = loadConfig();
const url = await databaseUrl(config);
await runMigrations(url).catch((err: unknown) => fail(`migration failed: ${(err as Error).message}`));
process.stdout.write('oncely: schema is current\n');
