import { referenceDomains } from '../domains/index.ts';
import { migrateSystem } from '../system.ts';
import { databaseUrl, fail, loadConfig } from './run.ts';

const config = loadConfig();
const url = await databaseUrl(config);
await migrateSystem(url, config, referenceDomains).catch((err: unknown) => fail(`migration failed: ${(err as Error).message}`));
process.stdout.write('oncely: schema is current\n');
