import { defineConfig } from 'vitest/config';

// `npm run test:brokers`: the inbox and outbox against the real RabbitMQ, NATS JetStream and Redis on
// 127.0.0.1 (see docs/brokers.md). Kept out of `npm test`, which needs nothing but the embedded PostgreSQL.
export default defineConfig({
  test: {
    include: ['test/brokers/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Files share the brokers' queues, streams and connections (and kill them): one at a time.
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
