import { waitForDatabase } from '../db/wait.ts';
import { referenceDomains } from '../domains/index.ts';
import { createLogger } from '../log.ts';
import { migrateSystem } from '../system.ts';
import { databaseUrl, fail, loadConfig } from './run.ts';

const config = loadConfig();
const url = await databaseUrl(config);
const log = createLogger(config.LOG_LEVEL, 'oncely-migrate');
await waitForDatabase(url, {
  seconds: config.DATABASE_WAIT_SECONDS,
  onAttempt: (attempt, reason, retryInMs) => log.warn({ attempt, reason, retryInMs }, 'waiting for PostgreSQL'),
}).catch((err: unknown) => fail((err as Error).message));
await migrateSystem(url, config, referenceDomains).catch((err: unknown) => fail(`migration failed: ${(err as Error).message}`));
process.stdout.write('oncely: schema is current\n');
