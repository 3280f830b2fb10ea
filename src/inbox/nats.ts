// Kept for scripts/bench/brokers.ts: the broker lives in src/brokers/nats/.
export { natsDeadLetterNames } from '../brokers/nats/index.ts';
