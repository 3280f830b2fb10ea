import { BROKER_NAMES, orList } from '../brokers/registry.ts';
import { fail, loadConfig, run } from './run.ts';

if (!loadConfig().RELAY_BROKER) fail(`RELAY_BROKER is not set: name the broker the relay publishes to (${orList(BROKER_NAMES)})`, 2);
await run({ api: false, worker: false, relay: true });
