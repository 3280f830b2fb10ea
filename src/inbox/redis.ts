// Kept for scripts/bench/brokers.ts: the broker lives in src/brokers/redis/.
export { redisDeadLetterStream } from '../brokers/redis/index.ts';
