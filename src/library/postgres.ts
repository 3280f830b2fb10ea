// `oncely/postgres`: the embedded PostgreSQL 18 that `npm start` and oncely's own tests run, for an
// application's development and tests. It runs as root too (as the unprivileged `postgres` user).
export { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedServer } from '../db/embedded.ts';
