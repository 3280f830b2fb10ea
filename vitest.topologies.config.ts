import { defineConfig } from 'vitest/config';

// `npm run test:topologies`: oncely behind a real PgBouncer in transaction pooling mode (Debian's pgbouncer,
// started by the tests on a loopback port). Kept out of `npm test`, which needs nothing but the embedded
// PostgreSQL; .ci/run installs pgbouncer when it is missing and runs this suite.
export default defineConfig({
  test: {
    include: ['test/topologies/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Each file starts processes and servers of its own: one at a time on a small machine.
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
