import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Broker tests need RabbitMQ, NATS and Redis: `npm run test:brokers` (vitest.brokers.config.ts).
    // PgBouncer and failover runs: `npm run test:topologies` (vitest.topologies.config.ts).
    exclude: ['test/brokers/**', 'test/topologies/**', '**/node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
