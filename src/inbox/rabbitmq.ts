// Kept for scripts/bench/brokers.ts: the broker lives in src/brokers/rabbitmq/.
export { rabbitDeadLetterNames } from '../brokers/rabbitmq/index.ts';
