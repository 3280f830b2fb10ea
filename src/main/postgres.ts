// Runs the embedded PostgreSQL alone, for `npm run api` / `npm run worker` processes to share.
import { maskPassword } from '../db/embedded.ts';
import { fail, loadConfig, startEmbedded } from './run.ts';

const config = loadConfig();
const server = await startEmbedded(config).catch((err: unknown) => fail(`could not start PostgreSQL: ${(err as Error).message}`));
process.stdout.write(`oncely: embedded PostgreSQL at ${maskPassword(server.url)} (the full URL, password included, is in ${config.DATA_DIR}/postgres-url)\n`);
const stop = () =>
  void server.stop().then(
    () => process.exit(0),
    (err: unknown) => fail(`stopping PostgreSQL failed: ${(err as Error)?.message ?? String(err)}`),
  );
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
