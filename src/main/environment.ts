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

/** Where `npm start` saves the URL of its embedded PostgreSQL (the superuser's password in it: mode 0600). */
export function embeddedUrlFile(config: Pick<Config, 'DATA_DIR'>): string {
  return path.resolve(config.DATA_DIR, 'postgres-url');
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
  const saved = await readFile(embeddedUrlFile(config), 'utf8').catch(() => '');
  return saved.trim() || undefined;
}
