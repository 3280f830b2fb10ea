// The environment as light entry points (the CLI) read it, without loading the whole system as run.ts does.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseConfig, type Config } from '../config.ts';

/**
 * The configuration from this process's environment; throws ConfigError naming every bad variable.
 *
 * @example
 * const config = readEnvironment();
 */
export function readEnvironment(): Config {
  return parseConfig(process.env);
}

/**
 * DATABASE_URL, else the URL of the embedded PostgreSQL that `npm start` or `npm run postgres` is running
 * (saved in DATA_DIR/postgres-url, as run.ts writes it), else undefined.
 *
 * @example
 * const url = await configuredDatabaseUrl(readEnvironment());
 */
export async function configuredDatabaseUrl(config: Config): Promise<string | undefined> {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const saved = await readFile(path.resolve(config.DATA_DIR, 'postgres-url'), 'utf8').catch(() => '');
  return saved.trim() || undefined;
}
