// The outbox relay as the chaos run starts it: src/main/relay.ts (`npm run relay`).
import { fail, loadConfig, run } from '../../src/main/run.ts';

if (!loadConfig().RELAY_BROKER) fail('RELAY_BROKER is not set: name the broker the relay publishes to (rabbitmq, nats or redis)', 2);
await run({ api: false, worker: false, relay: true });
